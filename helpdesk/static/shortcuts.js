// Keyboard shortcuts of the staff console, and the bulk form's fields shown for the chosen action.
// A file rather than inline script, so the Content-Security-Policy can forbid inline scripts. Everything here
// only adds to pages that work without it: links, forms and buttons do the same with a mouse or Tab.
//
// Ticket lists: j / k move down and up, o or Enter opens, x ticks, a assigns (the ticked tickets, or the current
// one), / goes to the search box. A ticket page: r goes to the reply box, a to "Assign to me". Everywhere: ?
// lists the shortcuts; Escape closes the list or leaves a text field.
(function () {
  "use strict";

  const list = document.querySelector("[data-ticket-list]");
  const rows = list ? Array.from(list.querySelectorAll("tr[data-ticket]")) : [];
  const replyBox = document.querySelector('form[action$="/reply"] textarea');
  const assignButton = document.querySelector('form[action$="/assign"] button[type="submit"]');
  const search = document.querySelector("[data-shortcut-search]");
  const bulkAction = document.querySelector("[data-bulk-action]");
  let current = -1;

  const shortcuts = [];
  if (rows.length) {
    shortcuts.push(["j", "next ticket in the list"], ["k", "previous ticket in the list"],
                   ["o or Enter", "open the ticket"], ["x", "tick or untick the ticket"],
                   ["a", "assign the ticked tickets (or the current one)"]);
  }
  if (search) shortcuts.push(["/", "search tickets"]);
  if (replyBox) shortcuts.push(["r", "write a reply"]);
  if (assignButton) shortcuts.push(["a", "assign the ticket to me (then Enter)"]);
  shortcuts.push(["?", "show these shortcuts"], ["Escape", "close this list, or leave a text field"]);

  // -- the bulk form: only the field the chosen action uses is shown ---------------------------------------
  function showActionFields() {
    if (!bulkAction) return;
    for (const field of document.querySelectorAll("[data-for-action]")) {
      field.hidden = !field.getAttribute("data-for-action").split(" ").includes(bulkAction.value);
    }
  }
  if (bulkAction) {
    bulkAction.addEventListener("change", showActionFields);
    showActionFields();
  }

  // -- the help overlay ---------------------------------------------------------------------------------------
  let dialog = null;
  function helpDialog() {
    if (dialog) return dialog;
    dialog = document.createElement("dialog");
    dialog.className = "shortcuts-help";
    dialog.setAttribute("aria-labelledby", "shortcuts-title");
    const title = document.createElement("h2");
    title.id = "shortcuts-title";
    title.textContent = "Keyboard shortcuts";
    const keys = document.createElement("dl");
    for (const [key, what] of shortcuts) {
      const term = document.createElement("dt");
      const kbd = document.createElement("kbd");
      kbd.textContent = key;
      term.appendChild(kbd);
      const description = document.createElement("dd");
      description.textContent = what;
      keys.append(term, description);
    }
    const close = document.createElement("button");
    close.type = "button";
    close.textContent = "Close";
    close.addEventListener("click", function () { dialog.close(); });
    dialog.append(title, keys, close);
    document.body.appendChild(dialog);
    return dialog;
  }
  function showHelp() {
    const d = helpDialog();
    if (!d.open) d.showModal();
  }
  for (const button of document.querySelectorAll("[data-shortcuts-help]")) {
    button.hidden = false;
    button.addEventListener("click", showHelp);
  }

  // -- moving through a list ----------------------------------------------------------------------------------
  function select(index) {
    if (!rows.length) return;
    current = Math.max(0, Math.min(rows.length - 1, index));
    rows.forEach(function (row, i) { row.classList.toggle("kb-current", i === current); });
    const link = rows[current].querySelector("a[data-open]");
    if (link) link.focus();
  }
  function currentRow() {
    if (current < 0) {
      const focused = document.activeElement && document.activeElement.closest("tr[data-ticket]");
      current = focused ? rows.indexOf(focused) : -1;
    }
    return current >= 0 ? rows[current] : null;
  }
  function assignTicked() {
    const row = currentRow();
    const ticked = document.querySelectorAll('input[name="ticket"]:checked');
    if (!ticked.length && row) row.querySelector('input[name="ticket"]').checked = true;
    if (bulkAction) {
      bulkAction.value = "assign";
      showActionFields();
      const assignee = document.getElementById("b-assignee");
      if (assignee) assignee.focus();
    }
  }

  function typing(target) {
    return target instanceof Element && target.closest("input, textarea, select, [contenteditable]");
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target)) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    const key = event.key;
    if (key === "?") {
      showHelp();
    } else if (key === "/" && search) {
      search.focus();
    } else if (rows.length && key === "j") {
      select(currentRow() ? current + 1 : 0);
    } else if (rows.length && key === "k") {
      select(currentRow() ? current - 1 : 0);
    } else if (rows.length && key === "o") {
      const row = currentRow();
      const link = row && row.querySelector("a[data-open]");
      if (!link) return;
      window.location.assign(link.href);
    } else if (rows.length && key === "x") {
      const row = currentRow();
      if (!row) return;
      const box = row.querySelector('input[name="ticket"]');
      box.checked = !box.checked;
    } else if (rows.length && key === "a") {
      assignTicked();
    } else if (key === "r" && replyBox) {
      replyBox.focus();
    } else if (key === "a" && assignButton) {
      assignButton.focus();
    } else {
      return;
    }
    event.preventDefault();
  });
})();
