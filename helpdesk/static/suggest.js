// Offer knowledge-base answers while a person types the subject of a new ticket.
// Progressive enhancement: without JavaScript, or when search is down, the form works the same.
(function () {
  "use strict";
  const subject = document.getElementById("subject");
  const box = document.getElementById("suggestions");
  if (!subject || !box || !window.fetch) return;
  const list = box.querySelector("ul");
  // The best matches are listed as they come; when none reaches the desk's score floor
  // (HELPDESK_SUGGESTION_SCORE_FLOOR) the form also offers to ask. (A subject is short, and short searches
  // score low, so weak matches are still shown: they may be the answer.)
  const floor = parseFloat(box.dataset.floor || "0") || 0;
  const lead = document.getElementById("no-suggestions-lead");
  const none = document.getElementById("no-suggestions");
  const ask = document.getElementById("ask-desk");
  const body = document.getElementById("body");
  let timer = null;
  let latest = 0;

  function show(hits) {
    list.replaceChildren();
    for (const hit of hits) {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = hit.url;
      link.target = "_blank";
      link.rel = "noopener";
      link.textContent = hit.title;
      const kind = document.createElement("span");
      kind.className = "muted small";
      kind.textContent = hit.kind === "kb" ? " · knowledge base" : " · documentation";
      const snippet = document.createElement("p");
      snippet.className = "muted small";
      snippet.textContent = hit.snippet;
      item.append(link, kind, snippet);
      list.append(item);
    }
    box.hidden = hits.length === 0;
  }

  // A search that found nothing good enough offers to ask: the link carries the words as the subject
  // (already in the field here, so a click just moves on to the question).
  function offerToAsk(text, weak) {
    if (!none || !ask) return;
    if (lead) lead.textContent = weak ? "These are only weak matches." : "No article answers that yet.";
    const target = new URL(ask.getAttribute("href"), window.location.href);
    target.search = new URLSearchParams({ subject: text.slice(0, 200) }).toString();
    ask.href = target.pathname + target.search;
    none.hidden = false;
  }

  if (ask && body) {
    ask.addEventListener("click", function (event) {
      event.preventDefault();
      body.focus();
    });
  }

  async function search(text, ticket) {
    try {
      const response = await fetch("/api/v1/kb/search?limit=3&q=" + encodeURIComponent(text),
        { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!response.ok || ticket !== latest) return;
      const hits = await response.json();
      show(hits);
      const good = hits.filter(function (hit) { return hit.score >= floor; });
      if (good.length === 0) offerToAsk(text, hits.length > 0); else if (none) none.hidden = true;
    } catch (_error) {
      /* search is a convenience: stay quiet */
    }
  }

  subject.addEventListener("input", function () {
    clearTimeout(timer);
    const text = subject.value.trim();
    if (text.length < 4) { show([]); if (none) none.hidden = true; return; }
    const ticket = ++latest;
    timer = setTimeout(function () { search(text, ticket); }, 300);
  });
  if (subject.value.trim().length >= 4) subject.dispatchEvent(new Event("input"));
})();
