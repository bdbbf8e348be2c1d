/* The browser's time zone: filled into sign-up's hidden field, kept in a cookie (a sign-up form
   sent before this ran, or an account without a zone, takes it from there on the next request:
   integrations/timezones.py), and offered as a one-click choice on the preferences page. Without
   JavaScript the hub's zone is used until the person picks one. */
(function () {
  "use strict";
  var zone = "";
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch (error) {
    return;
  }
  if (!zone) return;
  if (/^[A-Za-z0-9_\/+-]+$/.test(zone)) {  // an IANA name: nothing a cookie must escape
    document.cookie = "browser_zone=" + zone + "; path=/; max-age=31536000; SameSite=Lax" +
      (location.protocol === "https:" ? "; Secure" : "");
  }
  document.querySelectorAll("input[data-browser-zone]").forEach(function (input) {
    if (!input.value) input.value = zone;
  });
  document.querySelectorAll("[data-use-browser-zone]").forEach(function (button) {
    var select = document.getElementById(button.getAttribute("data-use-browser-zone"));
    if (!select) return;
    var known = Array.prototype.some.call(select.options, function (option) { return option.value === zone; });
    if (!known || select.value === zone) return;
    button.textContent = "Use this browser's zone (" + zone + ")";
    button.hidden = false;
    button.addEventListener("click", function () {
      select.value = zone;
      button.hidden = true;
    });
  });
})();
