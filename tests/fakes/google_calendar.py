"""Contract fake of the Google Calendar API v3, over real HTTP.

Follows:
- https://developers.google.com/calendar/api/v3/reference/events/list (maxResults, pageToken,
  singleEvents, timeMin/timeMax, syncToken; nextPageToken on every page but the last,
  nextSyncToken only on the last; with a syncToken, deleted events come back with
  status "cancelled");
- https://developers.google.com/calendar/api/guides/sync (an expired sync token answers
  410 Gone, reason fullSyncRequired: the client must wipe and sync in full);
- https://developers.google.com/calendar/api/v3/reference/events/insert (client-chosen ids;
  409 duplicate when the id exists) and events/update;
- https://developers.google.com/calendar/api/v3/reference/calendars/get ("primary" is the
  account's own calendar, whose id is the account's email address);
- https://developers.google.com/calendar/api/guides/errors (401 authError, 403
  insufficientPermissions, 404 notFound, 410 fullSyncRequired, 429 rateLimitExceeded).

Paths are those of the real service under a base URL: /calendar/v3/calendars/{calendarId}/events.
Calendars belong to the authorization server's user owning the bearer token.
"""

from __future__ import annotations

import base64
import datetime
import itertools
import json

from tests.fakes.oauth_api import GoogleApiFake, Reply, google_error, route

SCOPE = "https://www.googleapis.com/auth/"
READ = (SCOPE + "calendar.readonly", SCOPE + "calendar", SCOPE + "calendar.events", SCOPE + "calendar.events.readonly")
LIST_CALENDARS = (SCOPE + "calendar.readonly", SCOPE + "calendar")
WRITE = (SCOPE + "calendar.events", SCOPE + "calendar")


def _encode(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _decode(token: str) -> dict | None:
    try:
        return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except ValueError:
        return None


def _start(event: dict) -> str:
    start = event.get("start") or {}
    return start.get("dateTime") or (start.get("date", "") + "T00:00:00Z")


def _end(event: dict) -> str:
    end = event.get("end") or event.get("start") or {}
    return end.get("dateTime") or (end.get("date", "") + "T00:00:00Z")


def _instant(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


class Calendar:
    def __init__(self, calendar_id: str):
        self.id = calendar_id
        self.events: dict[str, dict] = {}
        self.changes: list[tuple[int, str]] = []
        self.generation = 0


class GoogleCalendarFake(GoogleApiFake):
    def reset(self):
        super().reset()
        self.calendars: dict[tuple[str, str], Calendar] = {}
        self.max_page = 250
        self._seq = itertools.count(1)
        # Not the contract: a front end that loses the last page's nextSyncToken (so a listing
        # cannot be told complete). Tests set it to prove nothing is then tombstoned.
        self.drop_sync_token = False

    # -- the test's hands ---------------------------------------------------------------------
    def calendar(self, email: str, calendar_id: str = "primary") -> Calendar:
        key = (email, email if calendar_id == "primary" else calendar_id)
        if key not in self.calendars:
            self.calendars[key] = Calendar(key[1])
        return self.calendars[key]

    def put_event(self, email: str, event: dict, calendar_id: str = "primary") -> dict:
        with self.lock:
            calendar = self.calendar(email, calendar_id)
            seq = next(self._seq)
            stored = {
                "kind": "calendar#event",
                "status": "confirmed",
                "htmlLink": f"https://www.google.com/calendar/event?eid={event['id']}",
                "created": "2026-01-01T00:00:00.000Z",
                "iCalUID": f"{event['id']}@google.com",
                "sequence": 0,
                **event,
                "etag": f'"{seq}"',
                "updated": datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z"),
            }
            calendar.events[event["id"]] = stored
            calendar.changes.append((seq, event["id"]))
            return stored

    def cancel_event(self, email: str, event_id: str, calendar_id: str = "primary"):
        with self.lock:
            calendar = self.calendar(email, calendar_id)
            event = calendar.events[event_id]
            self.put_event(email, {**event, "status": "cancelled"}, calendar_id)

    def expire_sync_tokens(self, email: str, calendar_id: str = "primary"):
        self.calendar(email, calendar_id).generation += 1

    def live_events(self, email: str, calendar_id: str = "primary") -> dict:
        return {k: v for k, v in self.calendar(email, calendar_id).events.items() if v["status"] != "cancelled"}

    # -- the API ------------------------------------------------------------------------------
    def _calendar_for(self, owner: dict, calendar_id: str) -> Calendar:
        key = (owner["email"], owner["email"] if calendar_id == "primary" else calendar_id)
        if key not in self.calendars:
            if calendar_id in ("primary", owner["email"]):
                return self.calendar(owner["email"])
            raise Reply(404, google_error(404, "Not Found", "notFound", ""))
        return self.calendars[key]

    @route("GET", r"/calendar/v3/calendars/(?P<cal>[^/]+)")
    def get_calendar(self, request, cal):
        owner = self.owner(request, *LIST_CALENDARS)
        calendar = self._calendar_for(owner, cal)
        return {
            "kind": "calendar#calendar",
            "etag": '"c1"',
            "id": calendar.id,
            "summary": calendar.id,
            "timeZone": "UTC",
        }

    @route("GET", r"/calendar/v3/calendars/(?P<cal>[^/]+)/events")
    def list_events(self, request, cal):
        owner = self.owner(request, *READ)
        calendar = self._calendar_for(owner, cal)
        args = request.args
        page_size = min(int(args.get("maxResults", 250)), self.max_page)
        page = _decode(args["pageToken"]) if args.get("pageToken") else None
        if args.get("pageToken") and page is None:
            raise Reply(400, google_error(400, "Invalid page token value.", "invalid", "INVALID_ARGUMENT"))
        sync = args.get("syncToken")
        if sync:
            if args.get("timeMin") or args.get("timeMax"):
                raise Reply(
                    400,
                    google_error(
                        400,
                        "Sync token cannot be used with other request restrictions.",
                        "syncTokenWithRequestRestrictions",
                        "INVALID_ARGUMENT",
                    ),
                )
            state = _decode(sync)
            if not state or state.get("cal") != calendar.id or state.get("gen") != calendar.generation:
                raise Reply(
                    410,
                    google_error(
                        410, "Sync token is no longer valid, a full sync is required.", "fullSyncRequired", ""
                    ),
                )
            changed = {eid for seq, eid in calendar.changes if seq > state["seq"]}
            events = [calendar.events[eid] for eid in sorted(changed)]
        else:
            time_min, time_max = args.get("timeMin"), args.get("timeMax")
            events = []
            for eid in sorted(calendar.events):
                event = calendar.events[eid]
                if event["status"] == "cancelled" and args.get("showDeleted") != "true":
                    continue
                if time_min and _instant(_end(event)) <= _instant(time_min):
                    continue
                if time_max and _instant(_start(event)) >= _instant(time_max):
                    continue
                events.append(event)
        offset = page["offset"] if page else 0
        chunk = events[offset : offset + page_size]
        body = {
            "kind": "calendar#events",
            "etag": '"list"',
            "summary": calendar.id,
            "updated": datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z"),
            "timeZone": "UTC",
            "accessRole": "owner",
            "items": chunk,
        }
        if offset + page_size < len(events):
            body["nextPageToken"] = _encode({"offset": offset + page_size})
        else:
            last = calendar.changes[-1][0] if calendar.changes else 0
            if not self.drop_sync_token:
                body["nextSyncToken"] = _encode({"cal": calendar.id, "seq": last, "gen": calendar.generation})
        return body

    @route("POST", r"/calendar/v3/calendars/(?P<cal>[^/]+)/events")
    def insert_event(self, request, cal):
        owner = self.owner(request, *WRITE)
        calendar = self._calendar_for(owner, cal)
        event = json.loads(request.get_data())
        event_id = event.get("id") or f"gen{next(self._seq)}"
        if event_id in calendar.events:
            raise Reply(409, google_error(409, "The requested identifier already exists.", "duplicate", ""))
        return self.put_event(owner["email"], {**event, "id": event_id}, calendar.id)

    @route("PUT", r"/calendar/v3/calendars/(?P<cal>[^/]+)/events/(?P<event_id>[^/]+)")
    def update_event(self, request, cal, event_id):
        owner = self.owner(request, *WRITE)
        calendar = self._calendar_for(owner, cal)
        if event_id not in calendar.events:
            raise Reply(404, google_error(404, "Not Found", "notFound", ""))
        event = json.loads(request.get_data())
        return self.put_event(owner["email"], {**event, "id": event_id, "status": "confirmed"}, calendar.id)
