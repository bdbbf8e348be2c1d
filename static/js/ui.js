/* Small progressive enhancements, no inline script anywhere (the pages run under a strict CSP):
   - [data-reveal="input-id"]: a "Show"/"Hide" button for a password field;
   - [data-copy="input-id"]: a "Copy" button that puts a field's value on the clipboard;
   - [data-confirm="question"]: a submit button that asks before it deletes;
   - details.menu: "More" menus close on a click elsewhere and on Escape;
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

  // A button that deletes at once what cannot be had back (revoking an API token, removing a
  // workflow's source or output with its template) asks first: [data-confirm] holds the question.
  // Without JavaScript the form posts as it is.
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    var question = button && button.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  }, true);

  // "More" menus (details.menu) are drawn over the rows below them. A menu left open stayed over
  // the next rows' Sync now and More buttons after a click elsewhere; it now closes as menus do:
  // on a click outside it, when another one opens, and on Escape (focus back on its button).
  function closeMenus(except) {
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      if (menu !== except) menu.open = false;
    });
  }
  document.addEventListener("click", function (event) {
    closeMenus(event.target.closest ? event.target.closest("details.menu") : null);
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var menu = document.activeElement && document.activeElement.closest && document.activeElement.closest("details.menu[open]");
    closeMenus(null);
    if (menu) menu.querySelector("summary").focus();
  });

  // Schedule presets ("Every morning"): fill the cron field and let its live preview update.
  document.addEventListener("click", function (event) {
    var preset = event.target.closest("[data-cron][data-cron-target]");
    if (!preset) return;
    var input = document.getElementById(preset.getAttribute("data-cron-target"));
    if (!input) return;
    input.value = preset.getAttribute("data-cron");
    input.dispatchEvent(new Event("input", { bubbles: true }));
  });

  // Live fields (hx-trigger: the gallery's and the lists' filters, the workflow pickers, the live
  // preview) are heard only once htmx has processed the page, at DOMContentLoaded (its listener came
  // first). A person on a slow connection may have changed one before: those changes are announced
  // again, as the browser announced them to no one, so the page answers them instead of showing a
  // choice it ignored.
  function changed(control) {
    if (control.type === "radio") return control.checked && !control.defaultChecked;
    if (control.type === "checkbox") return control.checked !== control.defaultChecked;
    if (control.tagName === "SELECT") {
      var options = Array.prototype.slice.call(control.options);
      var marked = options.filter(function (option) { return option.defaultSelected; });
      if (!control.multiple && !marked.length) {
        return control.selectedIndex !== options.findIndex(function (option) { return !option.disabled; });
      }
      return options.some(function (option) { return option.selected !== option.defaultSelected; });
    }
    return control.value !== control.defaultValue;
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("input, select, textarea").forEach(function (control) {
      if (/^(file|hidden|submit|button|reset|image)$/.test(control.type)) return;
      var heard = control.closest("[hx-trigger]") || (control.form && control.form.querySelector("[hx-trigger]"));
      if (!heard || !changed(control)) return;
      control.dispatchEvent(new Event("input", { bubbles: true }));
      control.dispatchEvent(new Event("change", { bubbles: true }));
    });
  });

  // A request made in place (Sync now, Run now, Test connection, a live preview, a progress poll)
  // that failed would change nothing on the page: the button seemed to do nothing. The commonest
  // case is a page opened before a log-in or log-out in another tab, whose form token has expired.
  // Say what happened, in the words of the hub's error page when it sent one (#error-heading and
  // its first paragraph), and offer the reload that fixes it. The same request working later (a
  // progress poll once the hub answers again) takes the notice away.
  function requestError(text, path) {
    var box = document.getElementById("request-error");
    if (!box) return;
    box.dataset.path = path || "";
    var banner = document.createElement("div");
    banner.className = "banner banner-error";
    var icon = document.createElement("span");
    icon.className = "banner-icon";
    icon.setAttribute("aria-hidden", "true");
    icon.textContent = "\u2716";
    var words = document.createElement("span");
    words.textContent = text + " ";
    var reload = document.createElement("a");
    reload.href = window.location.href;
    reload.textContent = "Reload the page";
    words.appendChild(reload);
    banner.appendChild(icon);
    banner.appendChild(words);
    box.replaceChildren(banner);
    box.hidden = false;
    box.scrollIntoView({ block: "nearest" }); // the button may be far down the page
  }

  function explain(xhr) {
    var type = xhr.getResponseHeader("Content-Type") || "";
    if (xhr.responseText && type.indexOf("text/html") === 0) {
      var page = new DOMParser().parseFromString(xhr.responseText, "text/html");
      var heading = page.querySelector("#error-heading");
      var first = page.querySelector(".error-page p");
      if (heading) return heading.textContent.trim() + ". " + (first ? first.textContent.trim() : "");
    }
    return "That did not work: the hub answered with an error (" + xhr.status + "). Nothing on this page changed.";
  }

  function requestPath(event) {
    return (event.detail.pathInfo && event.detail.pathInfo.requestPath) || "";
  }

  document.addEventListener("htmx:responseError", function (event) {
    requestError(explain(event.detail.xhr), requestPath(event));
  });
  document.addEventListener("htmx:sendError", function (event) {
    requestError("The hub could not be reached: check your connection, then try again.", requestPath(event));
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var box = document.getElementById("request-error");
    if (box && !box.hidden && event.detail.successful && requestPath(event) === box.dataset.path) {
      box.hidden = true;
      box.replaceChildren();
    }
  });

  // A control that swaps the part of the page it sits in (the workflow pickers: choosing an
  // integration with the arrow keys loads its form in place of the list) would leave keyboard focus
  // on nothing, back at the top of the page. When the focused element was taken out by a swap,
  // focus goes to the first field of what came in instead.
  var focusedBeforeSwap = null;
  document.addEventListener("htmx:beforeSwap", function () {
    focusedBeforeSwap = document.activeElement !== document.body ? document.activeElement : null;
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    var lost = focusedBeforeSwap;
    focusedBeforeSwap = null;
    if (!lost || document.contains(lost) || (document.activeElement && document.activeElement !== document.body)) return;
    var target = event.detail.target;
    if (!target || !document.contains(target)) return;
    var next = target.querySelector("input:not([type=hidden]):not([disabled]), select:not([disabled]), textarea:not([disabled])")
      || target.querySelector("a[href], button:not([disabled])");
    if (next) next.focus();
  });

  // A sync's or an export's progress is replaced by a fresh copy every second (hx-swap outerHTML):
  // a live region inside it is a new element each time, which screen readers do not announce, and
  // would read every counter each second if they did. The page's one lasting live region
  // (#live-status) says only when one changes state: queued, running, succeeded, failed (why).
  var announced = {};
  function noteStates(announce) {
    var live = document.getElementById("live-status");
    document.querySelectorAll("[data-announce][id]").forEach(function (el) {
      var text = el.getAttribute("data-announce");
      if (announced[el.id] === text) return;
      announced[el.id] = text;
      if (announce && live) live.textContent = text;
    });
  }
  noteStates(false);
  document.addEventListener("htmx:afterSettle", function () { noteStates(true); });

  setup(document);
  // Parts of pages swapped in by HTMX (a re-rendered field) get their buttons too.
  document.addEventListener("htmx:afterSwap", function (event) { setup(event.target); });
})();
