// Offer knowledge-base answers while a person types the subject of a new ticket.
// Progressive enhancement: without JavaScript, or when search is down, the form works the same.
(function () {
  "use strict";
  const subject = document.getElementById("subject");
  const box = document.getElementById("suggestions");
  if (!subject || !box || !window.fetch) return;
  const list = box.querySelector("ul");
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

  async function search(text, ticket) {
    try {
      const response = await fetch("/api/v1/kb/search?limit=3&q=" + encodeURIComponent(text),
        { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!response.ok || ticket !== latest) return;
      show(await response.json());
    } catch (_error) {
      /* search is a convenience: stay quiet */
    }
  }

  subject.addEventListener("input", function () {
    clearTimeout(timer);
    const text = subject.value.trim();
    if (text.length < 4) { show([]); return; }
    const ticket = ++latest;
    timer = setTimeout(function () { search(text, ticket); }, 300);
  });
  if (subject.value.trim().length >= 4) subject.dispatchEvent(new Event("input"));
})();
