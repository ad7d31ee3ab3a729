// Submit a filter form as soon as one of its <select data-autosubmit> changes (the staff console's status).
// A file rather than an onchange attribute, so the Content-Security-Policy can forbid inline scripts.
// Without JavaScript the form's <noscript> button does the same.
(function () {
  "use strict";
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", function () {
      if (select.form) select.form.submit();
    });
  }
})();
