// On the documentation's search page: when a search matches nothing, offer to ask the support desk, with
// the words searched for as the question's subject. The desk serves this site, so its form is /tickets/new.
// A file of its own (no inline script), from this site only: the pages' Content-Security-Policy allows it.
(function () {
  "use strict";
  var ASK = "/tickets/new";
  var results = document.getElementById("search-results");
  var query = (new URLSearchParams(window.location.search).get("q") || "").trim();
  if (!results || !query || !window.MutationObserver) return;

  function offer() {
    if (document.getElementById("dp0-ask-desk")) return;
    var box = document.createElement("p");
    box.id = "dp0-ask-desk";
    box.className = "dp0-ask";
    box.append("Nothing here answers that? ");
    var link = document.createElement("a");
    link.href = ASK + "?" + new URLSearchParams({ subject: query.slice(0, 200) }).toString();
    link.textContent = "Ask the support desk";
    box.append(link, " and a person from the support team will answer.");
    results.append(box);
  }

  // Sphinx's search writes its summary when it has finished; no result item by then means nothing matched.
  var watcher = new MutationObserver(function () {
    var summary = results.querySelector(".search-summary");
    if (!summary || !summary.textContent.trim()) return;
    if (!results.querySelector("ul.search li")) offer();
    watcher.disconnect();
  });
  watcher.observe(results, { childList: true, subtree: true, characterData: true });
})();
