/* Cloud-Saves: tiny progressive enhancements (no dependencies). */
(function () {
  "use strict";
  function ready(fn) {
    if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
  }
  ready(function () {
    // Dismissible alerts: buttons are hidden until JS is available.
    document.querySelectorAll("[data-dismiss-alert]").forEach(function (btn) {
      btn.hidden = false;
      btn.addEventListener("click", function () {
        var alert = btn.closest("[data-alert]");
        if (!alert) { return; }
        var container = alert.parentElement;
        alert.remove();
        if (container && container.classList.contains("messages") && !container.querySelector("[data-alert]")) {
          container.remove();
        }
      });
    });
  });
})();
