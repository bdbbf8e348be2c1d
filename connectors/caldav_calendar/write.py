"""Delivering workflow cards to a CalDAV calendar: each card with a due date becomes a VTODO
with DUE (or a VEVENT at that time), under a UID derived from the card's key, so delivering the
same card again replaces it instead of adding a copy."""

from __future__ import annotations

from urllib.parse import urljoin

from connectors.base import Delivery
from connectors.caldav_calendar.ical import card_to_ics, card_uid
from connectors.errors import ConfigError


def deliver(dav, cards: list, config: dict) -> Delivery:
    as_event = str(config.get("item_type") or "task").lower() == "event"
    try:
        duration = int(config.get("event_duration_minutes") or 30)
    except (TypeError, ValueError):
        raise ConfigError("Event length must be a whole number of minutes.", field="event_duration_minutes") from None
    due = [c for c in cards if getattr(c, "due", None)]
    skipped = [c for c in cards if not getattr(c, "due", None)]
    if not due:
        return Delivery(0, _skipped_note(skipped))
    calendar = _target(dav, str(config.get("calendar") or ""), "VEVENT" if as_event else "VTODO")
    external_ids = []
    for card in due:
        name = card_uid(card).split("@", 1)[0] + ".ics"
        dav.put(urljoin(calendar.url, name), card_to_ics(card, as_event=as_event, duration_minutes=duration))
        external_ids.append(calendar.path + name)  # the external id the next sync gives it
    detail = f"{len(external_ids)} {'event' if as_event else 'task'}(s) saved to calendar {calendar.name!r}."
    if skipped:
        detail += " " + _skipped_note(skipped)
    return Delivery(len(external_ids), detail, external_ids)


def _target(dav, wanted: str, component: str):
    calendars = dav.calendars(dav.home_url(), sync_token=False, ctag=False)
    what = "events" if component == "VEVENT" else "tasks"
    if wanted.strip():
        match = [c for c in calendars if c.matches(wanted)]
        if not match:
            have = ", ".join(c.name for c in calendars) or "none"
            raise ConfigError(
                f"No calendar named {wanted!r} on this account (it has: {have}).",
                remediation="Choose one of the account's calendars in the output step.",
                field="calendar",
            )
        if not match[0].holds(component):
            raise ConfigError(
                f"Calendar {match[0].name!r} does not accept {what}.",
                remediation="Choose another calendar, or switch the output between tasks and events.",
                field="calendar",
            )
        return match[0]
    usable = [c for c in calendars if c.holds(component)]
    if not usable:
        raise ConfigError(
            f"No calendar of this account accepts {what}.",
            remediation="Create a calendar for them in your calendar app, or switch between tasks and events.",
            field="calendar",
        )
    return usable[0]


def _skipped_note(skipped: list) -> str:
    if not skipped:
        return ""
    titles = ", ".join(repr(c.title) for c in skipped[:5]) + (" ..." if len(skipped) > 5 else "")
    return f"Skipped {len(skipped)} card(s) without a due date: {titles}."
