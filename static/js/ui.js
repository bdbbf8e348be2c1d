/* Small progressive enhancements, no inline script anywhere (the pages run under a strict CSP):
   - [data-reveal="input-id"]: a "Show"/"Hide" button for a password field;
   - [data-copy="input-id"]: a "Copy" button that puts a field's value on the clipboard;
   - [data-cron][data-cron-target]: a schedule preset that fills the cron field (their row,
     [data-cron-presets], is shown here: a preset pressed before this ran would do nothing).
   The buttons stay hidden without JavaScript; the pages work without them. */
(function () {
  "use strict";

  function setup(root) {
    root.querySelectorAll("[data-cron-presets]").forEach(function (row) { row.hidden = false; });
    root.querySelectorAll("[data-reveal]").forEach(function (button) {
      var input = document.getElementById(button.getAttribute("data-reveal"));
      if (!input || button.dataset.ready) return;
      button.dataset.ready = "1";
      button.hidden = false;
      button.addEventListener("click", function () {
        var showing = input.type === "text";
        input.type = showing ? "password" : "text";
        button.textContent = showing ? "Show" : "Hide";
        button.setAttribute("aria-pressed", showing ? "false" : "true");
        input.focus();
      });
    });
    root.querySelectorAll("[data-copy]").forEach(function (button) {
      var input = document.getElementById(button.getAttribute("data-copy"));
      if (!input || button.dataset.ready) return;
      button.dataset.ready = "1";
      button.hidden = false;
      var status = document.getElementById(button.getAttribute("aria-describedby") || "");
      button.addEventListener("click", function () {
        function done(text) {
          button.textContent = text;
          if (status) status.textContent = text === "Copied" ? "The token is on your clipboard." : "";
        }
        input.select();
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(input.value).then(function () { done("Copied"); }, function () {
            done(document.execCommand("copy") ? "Copied" : "Press Ctrl+C to copy");
          });
        } else {
          done(document.execCommand("copy") ? "Copied" : "Press Ctrl+C to copy");
        }
      });
    });
  }

  // Schedule presets ("Every morning"): fill the cron field and let its live preview update.
  document.addEventListener("click", function (event) {
    var preset = event.target.closest("[data-cron][data-cron-target]");
    if (!preset) return;
    var input = document.getElementById(preset.getAttribute("data-cron-target"));
    if (!input) return;
    input.value = preset.getAttribute("data-cron");
    input.dispatchEvent(new Event("input", { bubbles: true }));
  });

  setup(document);
  // Parts of pages swapped in by HTMX (a re-rendered field) get their buttons too.
  document.addEventListener("htmx:afterSwap", function (event) { setup(event.target); });
})();
