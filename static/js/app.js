/* The hub's own behaviour beyond HTMX. The Content-Security-Policy allows scripts from the hub's
   own files only (no inline <script>, no onclick="..."), so every handler lives here and finds its
   elements through data attributes. */
"use strict";

// Cron presets (workflow editor): a chip fills the schedule field, and the "input" event it
// dispatches makes HTMX ask for the preview of the next runs, as typing would.
document.addEventListener("click", function (event) {
  var chip = event.target.closest("button[data-cron][data-cron-target]");
  if (!chip) {
    return;
  }
  var input = document.getElementById(chip.dataset.cronTarget);
  if (!input) {
    return;
  }
  input.value = chip.dataset.cron;
  input.dispatchEvent(new Event("input", { bubbles: true }));
});
