"""Contract fake of Microsoft Graph v1.0 (user profile, calendars, calendarView delta), over
real HTTP, served under /v1.0 like graph.microsoft.com.

Follows:
- https://learn.microsoft.com/en-us/graph/api/event-delta (GET /me/calendarView/delta and
  /me/calendars/{id}/calendarView/delta with startDateTime/endDateTime on the first call;
  @odata.nextLink carrying $skiptoken for the next page, @odata.deltaLink carrying $deltatoken
  on the last; a deltaLink round returns only changes; deleted events as
  {"@odata.type": "#microsoft.graph.event", "id": ..., "@removed": {"reason": "deleted"}};
  Prefer: odata.maxpagesize=N and outlook.timezone);
- https://learn.microsoft.com/en-us/graph/delta-query-overview (an expired delta token answers
  410 Gone, code SyncStateNotFound / resyncRequired: start a new round);
- https://devblogs.microsoft.com/microsoft365dev/duration-of-change-tracking-tokens-for-identity-and-education-resources/
  (an expired delta link may also answer 400 Bad Request with the code syncStateNotFound,
  "The sync state generation is not found. The delta token is expired and data must be
  synchronized again."): `expire_delta(..., status=400)`;
- https://learn.microsoft.com/en-us/graph/api/user-get (GET /me) and calendar list;
- https://learn.microsoft.com/en-us/graph/api/event-get (GET /me/events/{id}, $select; a series
  master is found there though the calendar view never lists it; 404 ErrorItemNotFound);
- https://learn.microsoft.com/en-us/graph/errors (401 InvalidAuthenticationToken,
  403 ErrorAccessDenied, 429 TooManyRequests with Retry-After).
"""

from __future__ import annotations

import base64
import datetime
import itertools
import json
import re
from urllib.parse import quote

from tests.fakes.oauth_api import ApiFake, Reply, route

READ_CALENDARS = ("Calendars.Read", "Calendars.ReadWrite")
READ_USER = ("User.Read",)


def _token(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _untoken(text: str) -> dict | None:
    try:
        return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except ValueError:
        return None


def graph_error(code: str, message: str) -> dict:
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {"date": "2026-01-05T10:00:00", "request-id": "0000", "client-request-id": "0000"},
        }
    }


def _instant(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value[:19]).replace(tzinfo=datetime.UTC)


class GraphCalendar:
    def __init__(self, calendar_id: str, name: str):
        self.id, self.name = calendar_id, name
        self.events: dict[str, dict] = {}
        self.deleted: dict[str, int] = {}
        self.changes: dict[str, int] = {}
        self.generation = 0
        self.expired_answer = (410, "SyncStateNotFound")  # how an old delta token is refused


class GraphFake(ApiFake):
    def reset(self):
        super().reset()
        self.calendars: dict[str, dict[str, GraphCalendar]] = {}
        self.max_page = 100
        self._seq = itertools.count(1)
        # Not the contract: a front end that loses the last page's deltaLink (so a round cannot be
        # told complete). Tests set it to prove nothing is then tombstoned.
        self.drop_delta_link = False
        self.masters: dict[str, dict[str, dict]] = {}  # email -> id -> series master

    @property
    def base_url(self) -> str:
        return self.url("/v1.0")

    def unauthorized(self) -> Reply:
        return Reply(
            401,
            graph_error("InvalidAuthenticationToken", "Access token has expired or is not yet valid."),
            {"WWW-Authenticate": 'Bearer realm="", error="invalid_token"'},
        )

    def insufficient_scope(self, needed) -> Reply:
        return Reply(403, graph_error("ErrorAccessDenied", "Access is denied. Check credentials and try again."))

    @staticmethod
    def throttled(retry_after: int = 1) -> tuple:
        body = graph_error("TooManyRequests", "Too many requests; please retry after the time in Retry-After.")
        return 429, body, {"Retry-After": str(retry_after)}

    # -- the test's hands ---------------------------------------------------------------------
    def calendar(self, email: str, name: str = "Calendar") -> GraphCalendar:
        mine = self.calendars.setdefault(email, {})
        if name not in mine:
            slug = re.sub(r"\W", "", name)
            mine[name] = GraphCalendar(f"AAMkAD{len(mine) + 1:04d}{slug}", name)
        return mine[name]

    def put_event(self, email: str, event: dict, calendar: str = "Calendar") -> dict:
        with self.lock:
            cal = self.calendar(email, calendar)
            seq = next(self._seq)
            stored = {
                "@odata.etag": f'W/"{seq}"',
                "id": event["id"],
                "subject": "",
                "bodyPreview": "",
                "isAllDay": False,
                "isCancelled": False,
                "type": "singleInstance",
                "showAs": "busy",
                "webLink": f"https://outlook.office365.com/owa/?itemid={event['id']}",
                "organizer": {"emailAddress": {"name": "Alice", "address": email}},
                "attendees": [],
                "location": {"displayName": ""},
                **event,
                "changeKey": f"ck{seq}",
                "lastModifiedDateTime": datetime.datetime.now(datetime.UTC).isoformat(),
            }
            cal.events[event["id"]] = stored
            cal.deleted.pop(event["id"], None)
            cal.changes[event["id"]] = seq
            return stored

    def put_series_master(self, email: str, master: dict, calendar: str = "Calendar") -> dict:
        """A recurring series' master ("type": "seriesMaster"): readable by id, never listed by
        the calendar view, which lists its occurrences (put_event them with seriesMasterId)."""
        with self.lock:
            self.calendar(email, calendar)
            stored = {"type": "seriesMaster", "subject": "", "isCancelled": False, **master}
            self.masters.setdefault(email, {})[master["id"]] = stored
            return stored

    def delete_event(self, email: str, event_id: str, calendar: str = "Calendar"):
        with self.lock:
            cal = self.calendar(email, calendar)
            del cal.events[event_id]
            cal.deleted[event_id] = next(self._seq)

    def expire_delta(self, email: str, calendar: str = "Calendar", *, status: int = 410, code: str = ""):
        """Every delta and skip token issued so far is refused: 410 Gone, or as Graph also does,
        400 with code syncStateNotFound (or the `code` given, e.g. resyncRequired)."""
        cal = self.calendar(email, calendar)
        cal.generation += 1
        cal.expired_answer = (status, code or ("SyncStateNotFound" if status == 410 else "syncStateNotFound"))

    @staticmethod
    def _expired(cal: GraphCalendar) -> Reply:
        status, code = cal.expired_answer
        message = (
            "The sync state generation is not found. The delta token is expired and data must be synchronized again."
        )
        return Reply(status, graph_error(code, message))

    # -- the API ------------------------------------------------------------------------------
    @route("GET", r"/v1.0/me")
    def me(self, request):
        owner = self.owner(request, *READ_USER)
        return {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
            "id": f"id-{owner['username']}",
            "displayName": owner["username"].title(),
            "mail": owner["email"],
            "userPrincipalName": owner["email"],
        }

    @route("GET", r"/v1.0/me/events/(?P<event_id>[^/]+)")
    def get_event(self, request, event_id):
        email = self.owner(request, *READ_CALENDARS)["email"]
        found = self.masters.get(email, {}).get(event_id)
        if found is None:
            found = next(
                (c.events[event_id] for c in self.calendars.get(email, {}).values() if event_id in c.events), None
            )
        if found is None:
            raise Reply(404, graph_error("ErrorItemNotFound", "The specified object was not found in the store."))
        select = [f.strip() for f in (request.args.get("$select") or "").split(",") if f.strip()]
        return {k: v for k, v in found.items() if not select or k in select or k == "id"}

    @route("GET", r"/v1.0/me/calendars")
    def list_calendars(self, request):
        owner = self.owner(request, *READ_CALENDARS)
        self.calendar(owner["email"])
        return {
            "value": [
                {"id": c.id, "name": c.name, "isDefaultCalendar": c.name == "Calendar"}
                for c in self.calendars[owner["email"]].values()
            ]
        }

    @route("GET", r"/v1.0/me/calendarView/delta")
    def default_delta(self, request):
        owner = self.owner(request, *READ_CALENDARS)
        return self._delta(request, self.calendar(owner["email"]), "/v1.0/me/calendarView/delta")

    @route("GET", r"/v1.0/me/calendars/(?P<calendar_id>[^/]+)/calendarView/delta")
    def calendar_delta(self, request, calendar_id):
        owner = self.owner(request, *READ_CALENDARS)
        found = [c for c in self.calendars.get(owner["email"], {}).values() if c.id == calendar_id]
        if not found:
            raise Reply(404, graph_error("ErrorItemNotFound", "The specified object was not found in the store."))
        return self._delta(request, found[0], f"/v1.0/me/calendars/{calendar_id}/calendarView/delta")

    def _page_size(self, request) -> int:
        match = re.search(r"odata\.maxpagesize=(\d+)", request.headers.get("Prefer", ""))
        return min(int(match.group(1)) if match else 10, self.max_page)

    def _delta(self, request, cal: GraphCalendar, path: str):
        args = request.args
        if "$deltatoken" in args:
            state = _untoken(args["$deltatoken"])
            if not state or state.get("gen") != cal.generation:
                raise self._expired(cal)
            rows = self._changes(cal, state)
            window, since = state["window"], state["seq"]
            offset = 0
        elif "$skiptoken" in args:
            state = _untoken(args["$skiptoken"])
            if not state or state.get("gen") != cal.generation:
                raise self._expired(cal)
            window, since, offset = state["window"], state["since"], state["offset"]
            rows = self._changes(cal, state) if since is not None else self._initial(cal, window)
        else:
            if not args.get("startDateTime") or not args.get("endDateTime"):
                raise Reply(400, graph_error("ErrorInvalidParameter", "startDateTime and endDateTime are required."))
            window, since, offset = [args["startDateTime"], args["endDateTime"]], None, 0
            rows = self._initial(cal, window)
        size = self._page_size(request)
        chunk = rows[offset : offset + size]
        body = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(event)", "value": chunk}
        top = max([0, *cal.changes.values(), *cal.deleted.values()])
        if offset + size < len(rows):
            skip = _token(
                {"window": window, "since": since, "offset": offset + size, "gen": cal.generation, "top": top}
            )
            body["@odata.nextLink"] = self.url(f"{path}?$skiptoken={quote(skip)}")
        else:
            delta = _token({"window": window, "seq": top, "gen": cal.generation})
            if not self.drop_delta_link:
                body["@odata.deltaLink"] = self.url(f"{path}?$deltatoken={quote(delta)}")
        return body

    @staticmethod
    def _in_window(event: dict, window) -> bool:
        start, end = _instant(window[0]), _instant(window[1])
        return _instant(event["end"]["dateTime"]) > start and _instant(event["start"]["dateTime"]) < end

    def _initial(self, cal: GraphCalendar, window) -> list[dict]:
        return [e for _id, e in sorted(cal.events.items()) if self._in_window(e, window)]

    def _changes(self, cal: GraphCalendar, state: dict) -> list[dict]:
        since = state.get("seq", state.get("since"))
        rows = [
            e
            for eid, e in sorted(cal.events.items())
            if cal.changes[eid] > since and self._in_window(e, state["window"])
        ]
        rows += [
            {"@odata.type": "#microsoft.graph.event", "id": eid, "@removed": {"reason": "deleted"}}
            for eid, seq in sorted(cal.deleted.items())
            if seq > since
        ]
        return rows
