// The staff ticket page: insert a canned reply or a knowledge-base link into the reply box, and tell
// colleagues (and be told) who is viewing or replying. A file, not inline script, so the
// Content-Security-Policy can forbid inline scripts. Without JavaScript the forms reload the page instead.
(function () {
  "use strict";
  const reply = document.getElementById("body");
  const csrf = document.querySelector("#reply-form input[name=csrf_token]");

  function insert(text) {
    if (!reply) return;
    const start = reply.selectionStart ?? reply.value.length;
    const end = reply.selectionEnd ?? reply.value.length;
    const before = reply.value.slice(0, start);
    const after = reply.value.slice(end);
    const gap = before && !/\s$/.test(before) ? " " : "";
    reply.value = before + gap + text + after;
    const caret = (before + gap + text).length;
    reply.focus();
    reply.setSelectionRange(caret, caret);
    reply.dispatchEvent(new Event("input", { bubbles: true }));
  }

  // -- canned replies: the texts are in <template id="macro-text-N">, placeholders already filled.
  const macroForm = document.getElementById("macro-form");
  if (macroForm && reply) {
    macroForm.addEventListener("submit", function (event) {
      const choice = macroForm.querySelector("select[name=macro]");
      const template = choice && document.getElementById("macro-text-" + choice.value);
      if (!template) return;
      event.preventDefault();
      insert(template.content.textContent);
    });
  }

  // -- knowledge-base articles as Markdown links
  const kbForm = document.getElementById("kb-form");
  const results = document.getElementById("kb-results");
  if (kbForm && results && window.fetch) {
    kbForm.addEventListener("submit", async function (event) {
      event.preventDefault();
      const query = kbForm.querySelector("input[name=kb]").value.trim();
      results.replaceChildren();
      if (!query) return;
      try {
        const response = await fetch(kbForm.dataset.kbUrl + "?q=" + encodeURIComponent(query),
          { headers: { Accept: "application/json" }, credentials: "same-origin" });
        if (!response.ok) throw new Error(String(response.status));
        const hits = await response.json();
        if (hits.length === 0) {
          const item = document.createElement("li");
          item.className = "muted";
          item.textContent = "No article matches.";
          results.append(item);
        }
        for (const hit of hits) {
          const item = document.createElement("li");
          const link = document.createElement("a");
          link.href = hit.url;
          link.rel = "noopener";
          link.textContent = hit.title;
          const button = document.createElement("button");
          button.type = "button";
          button.className = "small";
          button.textContent = "Insert link";
          button.setAttribute("aria-label", "Insert a link to " + hit.title);
          button.addEventListener("click", function () { insert(hit.markdown); });
          item.append(link, " ", button);
          results.append(item);
        }
      } catch (_error) {
        kbForm.submit(); // the page's own list, without JavaScript's help
      }
    });
  }

  // -- presence: a heartbeat every 15 s; "replying" while the reply box was typed in during the last 30 s
  const presence = document.getElementById("presence");
  if (!presence || !window.fetch || !csrf) return;
  let typedAt = 0;
  let sent = "";
  if (reply) {
    reply.addEventListener("input", function () {
      typedAt = Date.now();
      if (sent !== "replying") beat("replying"); // tell colleagues at once, not at the next heartbeat
    });
  }

  function describe(others) {
    return others.map(function (o) {
      return o.name + (o.action === "replying" ? " is replying to this ticket." : " is viewing this ticket.");
    }).join(" ");
  }

  async function beat(action) {
    sent = action;
    try {
      const response = await fetch(presence.dataset.presenceUrl, {
        method: "POST", credentials: "same-origin", keepalive: action === "leaving",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf.value },
        body: JSON.stringify({ action: action }),
      });
      if (!response.ok || action === "leaving") return;
      const text = describe((await response.json()).others || []);
      if (presence.textContent !== text) presence.textContent = text;
    } catch (_error) {
      /* presence is a courtesy: stay quiet */
    }
  }

  function tick() {
    beat(Date.now() - typedAt < 30000 ? "replying" : "viewing");
  }
  tick();
  setInterval(tick, 15000);
  window.addEventListener("pagehide", function () { beat("leaving"); });
})();
