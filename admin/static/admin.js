/* Administration pages: small conveniences; every page also works without them. */
(function () {
  "use strict";

  /** Show only the parameters of the chosen priority rule. */
  function policyParams() {
    var select = document.getElementById("f-policy");
    if (!select) { return; }
    function update() {
      document.querySelectorAll(".policy-params").forEach(function (box) {
        box.classList.toggle("hidden", box.getAttribute("data-policy") !== select.value);
      });
    }
    select.addEventListener("change", update);
    update();
  }

  /** Ask before a destructive form (data-confirm holds the question). */
  function confirmations() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
      });
    });
  }

  /** Bring the field a refusal names into view. */
  function focusInvalid() {
    var field = document.querySelector("[aria-invalid=true]");
    if (field) { field.focus(); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    policyParams();
    confirmations();
    focusInvalid();
  });
})();
