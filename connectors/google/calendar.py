"""Google Calendar (Calendar API v3): events in, tasks with due dates out as events.

In: events.list per chosen calendar, recurring events expanded (singleEvents), one Batch per page.
The first (full) round reads the window [now - past days, now + future days] and keeps the
nextSyncToken Google gives on its last page; later rounds send only syncToken and receive every
change since, cancelled events included (those become tombstones). When Google answers 410 Gone
(the sync token expired), the calendar is read again in full, and records Google no longer lists
are tombstoned. https://developers.google.com/calendar/api/guides/sync

Out: each card with a due date becomes an event (all-day for a date, timed for a date-time) whose
id is derived from the card's idempotency key, so delivering the same card twice updates the one
event instead of creating a second (insert answers 409 for an existing id: then update).
https://developers.google.com/calendar/api/v3/reference/events/insert
"""

from __future__ import annotations

import datetime
import hashlib
import logging

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from googleapiclient.errors import HttpError

from connectors import calendar_window
from connectors.base import Batch, Connector, Delivery, Record
from connectors.errors import ConfigError, classify
from connectors.google.common import build_service, execute, status_of
from connectors.listing import Listed
from connectors.paging import PageGuard
from connectors.registry import registry

log = logging.getLogger(__name__)

DEFAULT_BASE = "https://www.googleapis.com"
PAGE_SIZE = 250
KNOWN = {
    "kind", "etag", "id", "status", "htmlLink", "created", "updated", "summary", "description", "location",
    "creator", "organizer", "start", "end", "endTimeUnspecified", "recurrence", "recurringEventId",
    "originalStartTime", "transparency", "visibility", "iCalUID", "sequence", "attendees", "hangoutLink",
    "conferenceData", "reminders", "eventType", "colorId", "extendedProperties", "guestsCanModify",
    "guestsCanInviteOthers", "guestsCanSeeOtherGuests", "privateCopy", "locked", "source", "attachments",
}  # fmt: skip
# Read into the record's own fields; everything else is kept as is under data["extra"].
MAPPED = {
    "kind", "etag", "id", "status", "htmlLink", "summary", "description", "location", "organizer", "start", "end",
    "recurringEventId", "iCalUID", "updated", "attendees",
}  # fmt: skip


def _rfc3339(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _when(value: dict | None):
    """(datetime in UTC, all_day) of an event start/end."""
    if not value:
        return None, False
    if value.get("dateTime"):
        moment = parse_datetime(value["dateTime"])
        if moment is not None and timezone.is_naive(moment):
            moment = timezone.make_aware(moment, datetime.UTC)
        return moment, False
    if value.get("date"):
        day = parse_date(value["date"])
        return (datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.UTC) if day else None), True
    return None, False


def event_id_for(key: str) -> str:
    # Event ids are base32hex (a-v, 0-9), 5 to 1024 characters: hex digits qualify.
    return "mc" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]


@registry.register("google_calendar")
class GoogleCalendarConnector(Connector):
    # The timeline's kinds (connectors.kinds): how this connector's records are seen there.
    kind_map = {"event": "event"}

    @staticmethod
    def typed_fields(item) -> dict:
        data = item.data or {}
        fields = {"timezone": data.get("timezone"), "uid": data.get("ical_uid")}
        if data.get("recurring_event_id"):
            # An instance of a series is named by its original start (RECURRENCE-ID in iCalendar),
            # which stays when the instance is moved; its start is the same until then.
            original = (data.get("extra") or {}).get("originalStartTime") or {}
            fields["recurrence_id"] = original.get("dateTime") or original.get("date") or data.get("start")
        return fields

    supports_write = True

    def _service(self):
        if not hasattr(self, "_svc"):
            self._svc = build_service(self.ctx, "calendar", "v3", default_base=DEFAULT_BASE, path="calendar/v3/")
        return self._svc

    def test_connection(self) -> str:
        calendar = execute(self._service().calendars().get(calendarId="primary"))
        return calendar.get("id") or calendar.get("summary") or "Google Calendar"

    @property
    def calendars(self) -> list[str]:
        return [str(c).strip() for c in (self.config.get("calendars") or ["primary"]) if str(c).strip()] or ["primary"]

    def _window(self):
        start, end = calendar_window.bounds(self.config)
        return _rfc3339(start), _rfc3339(end)

    def list_changes(self, cursor):
        cursor = dict(cursor or {})
        resume = cursor.get("resume") or {}
        window = calendar_window.state(cursor, self.config)
        stale = window.stale
        state = {
            "sync_tokens": dict(cursor.get("sync_tokens") or {}),
            "window_at": window.listed_at,
            "window": window.window,
        }
        for calendar in self.calendars:
            mine = resume.get("calendar") == calendar
            page = resume.get("page") if mine else None
            listed = resume.get("listed") if mine else None
            incremental = calendar in state["sync_tokens"]
            yield from self._calendar_changes(calendar, state, page, listed=listed)
            if stale and incremental:
                # The window slid: list it again for events that entered it without changing.
                # Nothing is tombstoned by this listing: what left the window is kept.
                state["sync_tokens"].pop(calendar, None)
                yield from self._calendar_changes(calendar, state, None, tombstone=False)

    @staticmethod
    def _cursor(state: dict, **extra) -> dict:
        return {
            "sync_tokens": dict(state["sync_tokens"]),
            "window_at": state["window_at"],
            "window": state["window"],
            **extra,
        }

    def _calendar_changes(
        self, calendar: str, state: dict, page: str | None, *, tombstone: bool = True, listed: list | None = None
    ):
        service = self._service()
        sync_tokens = state["sync_tokens"]
        token = sync_tokens.get(calendar)
        # A full round can tombstone what Google no longer lists: one that starts on page one, or one
        # resumed with what its pages before the checkpoint listed.
        seen: Listed | None = None
        if token is None and tombstone and (page is None or listed is not None):
            seen = Listed(listed)
        time_min, time_max = self._window()
        pages = PageGuard("Google Calendar", what=f"calendar {calendar!r}", start=page)
        while True:
            params = dict(calendarId=calendar, singleEvents=True, maxResults=PAGE_SIZE)
            if token:
                params["syncToken"] = token
            else:
                params.update(timeMin=time_min, timeMax=time_max)
            if page:
                params["pageToken"] = page
            try:
                response = service.events().list(**params).execute(num_retries=0)
            except HttpError as exc:
                if status_of(exc) == 410 and token:
                    log.info("Calendar %s: sync token expired (410 Gone); reading it again in full", calendar)
                    token, page, seen = None, None, Listed()
                    pages = PageGuard("Google Calendar", what=f"calendar {calendar!r}")
                    sync_tokens.pop(calendar, None)
                    continue
                if status_of(exc) == 404:
                    raise ConfigError(
                        f"The calendar {calendar!r} was not found in this Google account.",
                        field="calendars",
                        remediation='Check the calendar IDs in the settings; "primary" is your main calendar.',
                    ) from exc
                raise classify(exc) from exc
            self.ctx.heartbeat()
            items, deletes = [], []
            for event in response.get("items") or []:
                external_id = f"{calendar}:{event['id']}"
                if event.get("status") == "cancelled":
                    deletes.append(external_id)
                    continue
                if seen is not None:
                    seen.add(external_id)
                items.append({"calendar": calendar, "event": event})
            page = pages.follow(response.get("nextPageToken"))
            if page:
                resume = {"calendar": calendar, "page": page}
                if seen is not None:
                    resume["listed"] = seen.for_cursor()
                cursor = self._cursor(state, resume=resume)
                yield Batch(items=items, deletes=deletes, cursor=cursor)
                continue
            sync_tokens[calendar] = response.get("nextSyncToken")
            if seen is not None and response.get("nextSyncToken"):
                # Only a listing that ends with its sync token is complete (a last page has one or the
                # other), and it covers the window only: what lies outside it was not deleted.
                known = self.ctx.known_ids(prefix=f"{calendar}:", occurred_within=calendar_window.bounds(self.config))
                deletes.extend(seen.missing(known))
            notices = []
            if seen is not None and not response.get("nextSyncToken"):
                notices.append(
                    f"Google's list of the events of calendar {calendar!r} ended without its sync token, so it "
                    "may be incomplete: nothing was deleted, and the next sync lists the calendar again."
                )
            yield Batch(items=items, deletes=deletes, notices=notices, cursor=self._cursor(state))
            return

    def transform(self, raw) -> Record:
        calendar, event = raw["calendar"], raw["event"]
        start, all_day = _when(event.get("start"))
        end, _ = _when(event.get("end"))
        unmapped = sorted(set(event) - KNOWN)
        extra = {key: event[key] for key in sorted(set(event) - MAPPED)}
        data = {
            "calendar": calendar,
            "event_id": event["id"],
            "start": (event.get("start") or {}).get("dateTime") or (event.get("start") or {}).get("date"),
            "end": (event.get("end") or {}).get("dateTime") or (event.get("end") or {}).get("date"),
            "timezone": (event.get("start") or {}).get("timeZone", ""),
            "all_day": all_day,
            "location": event.get("location", ""),
            "status": event.get("status", ""),
            "organizer": (event.get("organizer") or {}).get("email", ""),
            "attendees": [a.get("email", "") for a in event.get("attendees") or [] if a.get("email")],
            "recurring_event_id": event.get("recurringEventId", ""),
            "ical_uid": event.get("iCalUID", ""),
            "updated": event.get("updated", ""),
            "ends_at": end.isoformat() if end else None,
        }
        if extra:
            data["extra"] = extra
        return Record(
            external_id=f"{calendar}:{event['id']}",
            kind="event",
            title=event.get("summary") or "(no title)",
            summary=event.get("description", ""),
            occurred_at=start,
            data=data,
            source_url=event.get("htmlLink", ""),
            version=event.get("etag", ""),
            unmapped=unmapped,
        )

    # -- out: tasks with due dates become events ----------------------------------------------
    def send(self, cards: list, config: dict) -> Delivery:
        settings_ = {**(self.config or {}), **{k: v for k, v in (config or {}).items() if v not in (None, "")}}
        calendar = settings_.get("calendar_id") or "primary"
        minutes = int(settings_.get("event_duration_minutes") or 30)
        service = self._service()
        created = updated = skipped = 0
        ids = []
        for card in cards:
            if not card.due:
                skipped += 1
                continue
            key = card.key or f"{card.title}|{card.due}"
            body = self._event_body(card, key, minutes)
            try:
                result = service.events().insert(calendarId=calendar, body=body).execute(num_retries=0)
                created += 1
            except HttpError as exc:
                if status_of(exc) != 409:
                    raise classify(exc) from exc
                body.pop("id")
                result = execute(service.events().update(calendarId=calendar, eventId=event_id_for(key), body=body))
                updated += 1
            ids.append(result.get("id", event_id_for(key)))
        detail = f"{created} event(s) created, {updated} updated"
        if skipped:
            detail += f"; {skipped} card(s) without a due date skipped"
        return Delivery(delivered=created + updated, detail=detail, external_ids=ids)

    def _event_body(self, card, key: str, minutes: int) -> dict:
        due = card.due
        if isinstance(due, datetime.datetime):
            # A due time without a zone is the person's wall-clock time, and their zone is the
            # event's: Google shows it (and repeats it across a DST change) there.
            zone = self.ctx.zone()
            if timezone.is_naive(due):
                due = timezone.make_aware(due, zone)
            start = {"dateTime": due.isoformat(), "timeZone": zone.key}
            end = {"dateTime": (due + datetime.timedelta(minutes=minutes)).isoformat(), "timeZone": zone.key}
        else:
            start = {"date": due.isoformat()}
            end = {"date": (due + datetime.timedelta(days=1)).isoformat()}
        description = card.markdown or ""
        if card.url:
            description = f"{description}\n\n{card.url}".strip()
        body = {
            "id": event_id_for(key),
            "summary": card.title[:1000],
            "description": description,
            "start": start,
            "end": end,
            "extendedProperties": {"private": {"metacortex_key": key[:1000]}},
        }
        if card.url:
            body["source"] = {"title": "MetaCortex", "url": card.url}
        return body
