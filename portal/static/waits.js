/* Public wait times: read the page again every minute while it is visible (cached server-side). */
(function () {
  "use strict";
  window.setInterval(function () {
    if (document.visibilityState === "visible") { window.location.reload(); }
  }, 60000);
})();
