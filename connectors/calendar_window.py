"""The sliding time window of the API calendar connectors (Google, Outlook).

Their incremental tokens only report changes inside the window they were created for, so an
unchanged event that slides into the window would never arrive. The window is therefore listed
again once a week, or at once when the user changes its size."""

from __future__ import annotations

import datetime
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
