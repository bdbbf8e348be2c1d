"""The sliding time window of the API calendar connectors (Google, Outlook).

Their incremental tokens only report changes inside the window they were created for, so an
unchanged event that slides into the window would never arrive. The window is therefore listed
again once a week, or at once when the user changes its size."""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass

from django.utils import timezone

REFRESH_EVERY = datetime.timedelta(days=7)


def days(config: dict) -> list[int]:
    return [int(config.get("window_past_days", 30)), int(config.get("window_future_days", 365))]


def bounds(config: dict, now: datetime.datetime | None = None) -> tuple[datetime.datetime, datetime.datetime]:
    now = now or timezone.now()
    past, future = days(config)
    return now - datetime.timedelta(days=past), now + datetime.timedelta(days=future)


@dataclass
class WindowState:
    stale: bool  # list the whole window again this round
    listed_at: str  # to store in the cursor as "window_at"
    window: list[int]  # to store in the cursor as "window"


def state(cursor: dict, config: dict, now: datetime.datetime | None = None) -> WindowState:
    now = now or timezone.now()
    listed_at, window = cursor.get("window_at"), days(config)
    stale = (
        listed_at is None
        or now - datetime.datetime.fromisoformat(listed_at) > REFRESH_EVERY
        or cursor.get("window", window) != window  # the settings changed
    )
    return WindowState(stale=stale, listed_at=now.isoformat() if stale else listed_at, window=window)


class Listed:
    """The ids a listing has shown so far, kept in the cursor while it pages, so a round resumed
    from its checkpoint (after a 5xx, a rate limit, a killed worker) can still tombstone what it
    never showed. Each id is kept as 12 hex digits of its SHA-256 (a busy year of events stays a few
    tens of kilobytes); two ids sharing a digest can only keep a deleted event, never delete one."""

    def __init__(self, digests=()):
        self._digests = {str(d) for d in digests or ()}

    @staticmethod
    def _digest(external_id: str) -> str:
        return hashlib.sha256(external_id.encode("utf-8")).hexdigest()[:12]

    def add(self, external_id: str) -> None:
        self._digests.add(self._digest(external_id))

    def __contains__(self, external_id: str) -> bool:
        return self._digest(external_id) in self._digests

    def missing(self, known) -> list[str]:
        """What of `known` this listing did not show, sorted."""
        return sorted(i for i in known if i not in self)

    def for_cursor(self) -> list[str]:
        return sorted(self._digests)
