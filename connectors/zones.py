"""Zone names as calendars, cameras and services write them: an IANA zone this machine knows, or
nothing. One place for everything zoneinfo raises for a name that is not a zone."""

from __future__ import annotations

import functools
import re
import zoneinfo


def zone_named(name) -> zoneinfo.ZoneInfo | None:
    """The zone called `name` (spaces around it ignored), or None: no name, an unknown or malformed
    one ("Mars/Olympus", "../x"), or a folder of the zone database ("America", "Etc"), for which
    zoneinfo raises IsADirectoryError, not ZoneInfoNotFoundError."""
    if not isinstance(name, str) or not name.strip():
        return None
    return _zone(name.strip())


@functools.lru_cache(maxsize=1024)
def _zone(name: str) -> zoneinfo.ZoneInfo | None:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return None


# TZIDs that calendars write, that neither the zone database nor icalendar's table of Windows
# names knows, and that still mean one zone for certain: Exchange's and Outlook.com's name for UTC
# (in Teams and Calendly invitations) and the bare "Z" some generators write.
_ALIASES = {"tzone://microsoft/utc": "UTC", "z": "UTC"}
_NUMBERED = re.compile(r"^(.*\S)\s+\d{1,2}$")  # Outlook's "Eastern Standard Time 1": a copy of a Windows zone


def zone_for_tzid(tzid) -> zoneinfo.ZoneInfo | None:
    """The zone a calendar's TZID means where icalendar found none (it knows IANA names, Windows
    names and /vendor/ prefixes): the names above, an IANA name in the wrong case
    ("europe/paris"), or a Windows name with Outlook's copy number ("Eastern Standard Time 1").
    None when the name stays unknown: the caller says so rather than guess."""
    zone = zone_named(tzid)
    if zone is not None or not isinstance(tzid, str):
        return zone
    name = tzid.strip().strip('"').strip()
    key = name.lower()
    if key in _ALIASES:
        return zone_named(_ALIASES[key])
    found = _lower_case_names().get(key)
    if found is None:
        numbered = _NUMBERED.match(name)
        found = _windows_names().get((numbered.group(1) if numbered else name).lower())
    return zone_named(found)


@functools.cache
def _lower_case_names() -> dict[str, str]:
    return {name.lower(): name for name in zoneinfo.available_timezones()}


@functools.cache
def _windows_names() -> dict[str, str]:
    from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

    return {name.lower(): iana for name, iana in WINDOWS_TO_OLSON.items()}
