"""Zone names as calendars, cameras and services write them: an IANA zone this machine knows, or
nothing. One place for everything zoneinfo raises for a name that is not a zone."""

from __future__ import annotations

import functools
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
