"""Each person's time zone: chosen on sign-up (the browser's, filled in by static/js/timezone.js)
and on the preferences page; activated for every request they make, and for the workflow runs and
mails made for them, so every time the hub shows is in their zone, not the hub's.

timezone.js also leaves the browser's zone in a cookie on every page. A sign-up sent before the
script filled in its field takes the zone from there, and an account that still has none (its
sign-up had no script, an operator made it) takes it on the next page it loads. A zone once stored,
the browser's or one the person chose, is never replaced by a browser's: on a trip the
preferences page offers the browser's zone instead."""

from __future__ import annotations

import zoneinfo
from functools import lru_cache

from django.conf import settings
from django.db import transaction
from django.utils import timezone

SESSION_KEY = "time_zone"
BROWSER_COOKIE = "browser_zone"  # written by static/js/timezone.js
CHECKED_KEY = "browser_zone_checked"  # the browser zone last compared with the account's


@lru_cache(maxsize=1)
def all_zones() -> tuple[str, ...]:
    return tuple(sorted(zone for zone in zoneinfo.available_timezones() if "/" in zone or zone == "UTC"))


def valid_zone(name) -> str:
    """The IANA name when it is one this machine knows, else "" (the hub's zone)."""
    name = str(name or "").strip()[:64]
    return name if name in set(all_zones()) else ""


def place_zone(name) -> str:
    """An event's own zone worth naming next to the person's time: a place ("America/New_York"),
    not "UTC" or "Etc/GMT+1", which only say how a server wrote the time down."""
    zone = valid_zone(name)
    return zone if zone and not zone.startswith("Etc/") and zone != "UTC" else ""


def zone_name_for(user) -> str:
    """The user's chosen zone name, or the hub's TIME_ZONE."""
    from integrations.models import UserPreferences

    if user is not None and getattr(user, "is_authenticated", False):
        chosen = UserPreferences.objects.filter(user=user).values_list("time_zone", flat=True).first()
        if chosen and valid_zone(chosen):
            return chosen
    return settings.TIME_ZONE


def zone_for(user) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(zone_name_for(user))


def set_zone(user, name: str, request=None) -> str:
    """Store the user's zone (an invalid one is stored as "", the hub's). Returns what was stored."""
    from integrations.models import UserPreferences

    zone = valid_zone(name)
    UserPreferences.objects.update_or_create(user=user, defaults={"time_zone": zone})
    if request is not None and hasattr(request, "session"):
        request.session[SESSION_KEY] = zone or settings.TIME_ZONE
    return zone


def browser_zone(request) -> str:
    """The zone the browser named in timezone.js's cookie, when it is a real one."""
    return valid_zone(request.COOKIES.get(BROWSER_COOKIE))


def adopt_browser_zone(request, user, current: str) -> str:
    """The browser's zone stored for an account that has none yet; the zone to show either way.
    Looked up once per session and browser zone, not on every page."""
    browser = browser_zone(request)
    if not browser or browser == current or request.session.get(CHECKED_KEY) == browser:
        return current
    request.session[CHECKED_KEY] = browser
    from integrations.models import UserPreferences

    with transaction.atomic():  # the row locked: a zone chosen meanwhile is never replaced
        preferences, _ = UserPreferences.objects.select_for_update().get_or_create(user=user)
        if preferences.time_zone:
            return current
        preferences.time_zone = browser
        preferences.save(update_fields=["time_zone"])  # (saved, not updated: all-day events relink)
    request.session[SESSION_KEY] = browser
    return browser


class UserTimeZoneMiddleware:
    """Activates the signed-in person's zone for the request: templates' |date and localtime()
    then show their times. Placed after AuthenticationMiddleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            # Kept in the session (set again whenever it is chosen): no query on every page.
            name = valid_zone(request.session.get(SESSION_KEY)) or zone_name_for(user)
            if request.session.get(SESSION_KEY) != name:
                request.session[SESSION_KEY] = name
            name = adopt_browser_zone(request, user, name)
            request.time_zone_name = name
            timezone.activate(zoneinfo.ZoneInfo(name))
        else:
            request.time_zone_name = settings.TIME_ZONE
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
