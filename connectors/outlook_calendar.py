"""Outlook Calendar through Microsoft Graph (tokens from the Microsoft identity platform, obtained
and refreshed by the hub's OAuth engine with requests-oauthlib).

Sync is the calendarView delta query: the first round asks for the window
(startDateTime/endDateTime), follows @odata.nextLink page by page, and keeps the
@odata.deltaLink of the last page; each later round calls the deltaLink and receives only the
changes: new and changed events, and {"@removed": {...}} entries for deleted ones (tombstones).
When Graph says the delta token is no longer usable (410 Gone, or 400 Bad Request with the error
code syncStateNotFound or resyncRequired, as it answers for expired tokens), the calendar is read
again from the window, and what is no longer listed is tombstoned. Times are asked in UTC
(Prefer: outlook.timezone="UTC"). A delta round keeps the window of its first call, so once a
week a new round starts on the slid window (after the delta round, so no removal is missed).
https://learn.microsoft.com/en-us/graph/delta-query-events,
https://learn.microsoft.com/en-us/graph/api/event-delta and, for the 400 form of an expired token,
https://devblogs.microsoft.com/microsoft365dev/duration-of-change-tracking-tokens-for-identity-and-education-resources/
"""

from __future__ import annotations

import datetime
import logging
from urllib.parse import quote, urlencode

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from connectors import calendar_window
from connectors.base import Batch, Connector, Record
from connectors.errors import AuthError, ConfigError, TransientError
from connectors.listing import Listed
from connectors.paging import PageGuard
from connectors.registry import registry
from connectors.zones import zone_named

log = logging.getLogger(__name__)

GRAPH = "https://graph.microsoft.com/v1.0"
PAGE_SIZE = 100
# Graph's error codes for "this delta token is no longer valid: start a new round" (any case).
RESYNC_CODES = {"syncstatenotfound", "resyncrequired", "syncstateinvalid"}
DEFAULT = "default"
KNOWN = {
    "id", "subject", "bodyPreview", "body", "start", "end", "isAllDay", "location", "locations", "organizer",
    "attendees", "webLink", "isCancelled", "type", "seriesMasterId", "changeKey", "lastModifiedDateTime",
    "createdDateTime", "showAs", "sensitivity", "importance", "iCalUId", "categories", "@odata.etag",
    "@odata.type", "isOnlineMeeting", "onlineMeeting", "onlineMeetingUrl", "recurrence", "originalStart",
    "responseStatus", "isOrganizer", "reminderMinutesBeforeStart", "isReminderOn", "hasAttachments",
}  # fmt: skip
# Read into the record's own fields; everything else is kept as is under data["extra"].
MAPPED = {
    "id", "subject", "bodyPreview", "start", "end", "isAllDay", "location", "organizer", "attendees", "webLink",
    "type", "seriesMasterId", "showAs", "categories", "lastModifiedDateTime", "changeKey", "@odata.etag",
    "@odata.type", "isCancelled",
}  # fmt: skip


def _graph_time(value: dict | None) -> datetime.datetime | None:
    """Graph's {"dateTime": "2026-01-05T09:00:00.0000000", "timeZone": "UTC"} as an aware datetime."""
    if not value or not value.get("dateTime"):
        return None
    text = value["dateTime"]
    if "." in text:  # seven fractional digits: Python reads at most six
        head, fraction = text.split(".", 1)
        digits = "".join(c for c in fraction if c.isdigit())[:6]
        text = f"{head}.{digits}" if digits else head
    moment = parse_datetime(text)
    if moment is None:
        return None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, datetime.UTC)  # asked for UTC
    return moment


def _original_date(data: dict, original_start) -> str | None:
    """The date an all-day occurrence had in its series, as "YYYY-MM-DD".

    Graph writes an all-day event's start and end as midnight UTC of its dates, whatever zone is
    asked, but an occurrence's originalStart as its midnight in the organizer's zone converted to
    UTC ("2018-06-05T07:00:00Z" for 5 June in Los Angeles, the 4th at 22:00Z in Berlin), and its
    originalStartTimeZone as the zone asked, not the organizer's
    (https://github.com/microsoftgraph/microsoft-graph-docs-contrib/issues/7803). An occurrence that
    was not moved starts on its original date. A moved one (an exception) is read from
    originalStart: the local midnight it is, for an organizer between UTC-10 and UTC+13:45 (every
    inhabited zone but American Samoa's and Kiribati's Line Islands), is the first midnight at or
    after originalStart - 10 h."""
    if data.get("type") == "occurrence" and data.get("start"):
        start = parse_datetime(str(data["start"]))
        if start is not None:
            return start.astimezone(datetime.UTC).date().isoformat()
    moment = parse_datetime(str(original_start or ""))
    if moment is None:
        return None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, datetime.UTC)
    earliest = moment.astimezone(datetime.UTC) - datetime.timedelta(hours=10)
    day = earliest.date()
    if earliest.time() != datetime.time(0):
        day += datetime.timedelta(days=1)
    return day.isoformat()


def _known_zone(name) -> bool:
    """Graph names a zone the Windows way ("Pacific Standard Time") when Outlook made the event:
    only an IANA name this server knows is worth keeping as the event's zone."""
    return zone_named(name) is not None


@registry.register("outlook_calendar")
class OutlookCalendarConnector(Connector):
    # The timeline's kinds (connectors.kinds): how this connector's records are seen there.
    kind_map = {"event": "event"}

    @staticmethod
    def typed_fields(item) -> dict:
        """The iCalendar identity of an event, as Graph documents it (resources/event): iCalUId is
        the UID of a single instance, but differs for each occurrence of a series, whose UID is the
        series master's iCalUId. The calendar view lists occurrences and exceptions, not their
        master: the sync reads the master's iCalUId once per series (series_uid). An instance whose
        master could not be read carries no UID rather than one no other calendar knows."""
        data = item.data or {}
        extra = data.get("extra") or {}
        zone = extra.get("originalStartTimeZone")
        fields = {"timezone": zone if _known_zone(zone) else None}
        if data.get("type") == "singleInstance":
            fields["uid"] = extra.get("iCalUId")
        elif data.get("type") in ("occurrence", "exception"):
            if data.get("series_uid"):
                fields["uid"] = data["series_uid"]
            # An instance is named by its original start (RECURRENCE-ID), which stays when it is moved;
            # Graph gives it in UTC.
            fields["recurrence_id"] = extra.get("originalStart") or data.get("start")
            if data.get("all_day"):
                # An all-day instance is named by its date, as Google and iCalendar name it.
                fields["recurrence_id"] = _original_date(data, extra.get("originalStart")) or fields["recurrence_id"]
        return fields

    @property
    def base(self) -> str:
        tokens = self.ctx.tokens
        return ((getattr(tokens, "api_base_url", "") if tokens else "") or GRAPH).rstrip("/")

    def _get(self, url: str, **kwargs):
        if self.ctx.tokens is None:
            raise AuthError("This Outlook connection has no OAuth token.", remediation="Connect it from the gallery.")
        headers = {"Prefer": f'odata.maxpagesize={PAGE_SIZE}, outlook.timezone="UTC"', "Accept": "application/json"}
        return self.http.get(url, headers=headers, auth=self.ctx.tokens.auth, **kwargs)

    def test_connection(self) -> str:
        me = self._get(f"{self.base}/me").json()
        return me.get("mail") or me.get("userPrincipalName") or me.get("displayName") or "Microsoft account"

    def _targets(self) -> list[tuple[str, str]]:
        """(key, calendarView/delta URL without the window) per chosen calendar."""
        names = [str(n).strip() for n in self.config.get("calendars") or [] if str(n).strip()]
        if not names:
            return [(DEFAULT, f"{self.base}/me/calendarView/delta")]
        calendars, url = {}, f"{self.base}/me/calendars"
        pages = PageGuard("Microsoft Graph", what="calendars")
        while url:
            page = self._get(url).json()
            for calendar in page.get("value") or []:
                calendars[calendar.get("name", "").lower()] = calendar["id"]
            url = pages.follow(page.get("@odata.nextLink"))
        missing = [n for n in names if n.lower() not in calendars]
        if missing:
            raise ConfigError(
                f"No Outlook calendar named {', '.join(repr(m) for m in missing)}.",
                field="calendars",
                remediation="Use the calendar names as Outlook shows them, or leave empty for your default calendar.",
            )
        return [
            (calendars[n.lower()], f"{self.base}/me/calendars/{calendars[n.lower()]}/calendarView/delta") for n in names
        ]

    def _window_query(self) -> str:
        start, end = calendar_window.bounds(self.config)
        fmt = "%Y-%m-%dT%H:%M:%SZ"
        return urlencode({"startDateTime": start.strftime(fmt), "endDateTime": end.strftime(fmt)})

    def list_changes(self, cursor):
        cursor = dict(cursor or {})
        resume = cursor.get("resume") or {}
        window = calendar_window.state(cursor, self.config)
        stale = window.stale
        state = {
            "delta": dict(cursor.get("delta") or {}),
            "window_at": window.listed_at,
            "window": window.window,
        }
        for key, delta_url in self._targets():
            first_url = f"{delta_url}?{self._window_query()}"
            mine = resume.get("key") == key
            start = resume.get("next") if mine else None
            incremental = key in state["delta"]
            yield from self._calendar(key, first_url, state, start, listed=resume.get("listed") if mine else None)
            if stale and incremental:
                # A delta round keeps the window of its first call: start a round on the slid window.
                # Nothing is tombstoned by it: what left the window is kept.
                state["delta"].pop(key, None)
                yield from self._calendar(key, first_url, state, None, tombstone=False)

    @staticmethod
    def _cursor(state: dict, **extra) -> dict:
        return {"delta": dict(state["delta"]), "window_at": state["window_at"], "window": state["window"], **extra}

    def _calendar(
        self,
        key: str,
        first_url: str,
        state: dict,
        resume_url: str | None,
        *,
        tombstone: bool = True,
        listed: list | None = None,
    ):
        links = state["delta"]
        url = resume_url or links.get(key) or first_url
        # A new round can tombstone what Graph no longer lists: one that starts on its first page, or
        # one resumed with what its pages before the checkpoint listed.
        seen: Listed | None = None
        if tombstone and (url == first_url or (resume_url and listed is not None)):
            seen = Listed(listed if url != first_url else None)
        pages = PageGuard("Microsoft Graph", what=f"calendar {key!r}", start=url)
        while True:
            response = self._get(url, allow=(400, 410))
            if self._delta_expired(response):
                if url == first_url:  # not a token of ours that expired: do not loop on it
                    raise TransientError(
                        f"Microsoft Graph could not start a sync round of this calendar (HTTP {response.status_code})."
                    )
                log.info(
                    "Outlook calendar %s: delta token expired (HTTP %s); reading it again in full",
                    key,
                    response.status_code,
                )
                links.pop(key, None)
                url, seen = first_url, Listed()
                pages = PageGuard("Microsoft Graph", what=f"calendar {key!r}", start=url)
                continue
            page = response.json()
            self.ctx.heartbeat()
            items, deletes = [], []
            for event in page.get("value") or []:
                external_id = f"{key}:{event['id']}"
                if "@removed" in event or event.get("isCancelled"):
                    deletes.append(external_id)
                    continue
                if seen is not None:
                    seen.add(external_id)
                raw = {"calendar": key, "event": event}
                if event.get("seriesMasterId") and event.get("type") in ("occurrence", "exception"):
                    raw["series_uid"] = self._series_uid(event["seriesMasterId"])
                items.append(raw)
            next_link = pages.follow(page.get("@odata.nextLink"))
            if next_link:
                resume = {"key": key, "next": next_link}
                if seen is not None:
                    resume["listed"] = seen.for_cursor()
                cursor = self._cursor(state, resume=resume)
                yield Batch(items=items, deletes=deletes, cursor=cursor)
                url = next_link
                continue
            links[key] = page.get("@odata.deltaLink")
            if seen is not None and page.get("@odata.deltaLink"):
                # Only a round that ends with its delta link is complete, and it covers the window
                # only: what lies outside it was not deleted.
                known = self.ctx.known_ids(prefix=f"{key}:", occurred_within=calendar_window.bounds(self.config))
                deletes.extend(seen.missing(known))
            notices = []
            if seen is not None and not page.get("@odata.deltaLink"):
                notices.append(
                    "Microsoft Graph's list of the events of an Outlook calendar ended without its delta link, so "
                    "it may be incomplete: nothing was deleted, and the next sync lists the calendar again."
                )
            yield Batch(items=items, deletes=deletes, notices=notices, cursor=self._cursor(state))
            return

    def _series_uid(self, master_id: str) -> str:
        """The series master's iCalUId (GET /me/events/{id}, event-get), once per series and sync.
        A master that is gone or not readable gives "" (its instances then carry no UID)."""
        known = getattr(self, "_series_uids", None)
        if known is None:
            known = self._series_uids = {}
        if master_id not in known:
            response = self._get(
                f"{self.base}/me/events/{quote(str(master_id), safe='')}?$select=iCalUId", allow=(403, 404)
            )
            body = response.json() if response.status_code == 200 else {}
            uid = body.get("iCalUId") if isinstance(body, dict) else None
            known[master_id] = uid if isinstance(uid, str) else ""
        return known[master_id]

    @staticmethod
    def _delta_expired(response) -> bool:
        """True for 410 Gone or a 400 whose code says the sync state is gone (start a new round);
        any other 400 raises, as a settings problem."""
        if response.status_code == 410:
            return True
        if response.status_code != 400:
            return False
        try:
            error = response.json().get("error") or {}
        except (ValueError, AttributeError):
            error = {}
        code = str(error.get("code") or "") if isinstance(error, dict) else ""
        if code.lower() in RESYNC_CODES:
            return True
        message = str(error.get("message") or "")[:200] if isinstance(error, dict) else ""
        raise ConfigError(
            f"Microsoft Graph refused the calendar query (HTTP 400{': ' + code if code else ''}"
            f"{' - ' + message if message else ''}).",
            remediation="Check the calendar settings of the integration, then sync again.",
        )

    def transform(self, raw) -> Record:
        calendar, event = raw["calendar"], raw["event"]
        start, end = _graph_time(event.get("start")), _graph_time(event.get("end"))
        unmapped = sorted(set(event) - KNOWN)
        location = (event.get("location") or {}).get("displayName", "")
        data = {
            "calendar": calendar,
            "event_id": event["id"],
            "start": start.isoformat() if start else None,
            "end": end.isoformat() if end else None,
            "all_day": bool(event.get("isAllDay")),
            "location": location,
            "organizer": ((event.get("organizer") or {}).get("emailAddress") or {}).get("address", ""),
            "attendees": [
                (a.get("emailAddress") or {}).get("address", "")
                for a in event.get("attendees") or []
                if (a.get("emailAddress") or {}).get("address")
            ],
            "type": event.get("type", ""),
            "series_master_id": event.get("seriesMasterId", ""),
            "series_uid": raw.get("series_uid", ""),
            "show_as": event.get("showAs", ""),
            "categories": event.get("categories") or [],
            "last_modified": event.get("lastModifiedDateTime", ""),
        }
        extra = {key: event[key] for key in sorted(set(event) - MAPPED)}
        if extra:
            data["extra"] = extra
        body = event.get("bodyPreview") or ""
        return Record(
            external_id=f"{calendar}:{event['id']}",
            kind="event",
            title=event.get("subject") or "(no title)",
            summary=body,
            occurred_at=start,
            data=data,
            source_url=event.get("webLink", ""),
            version=event.get("changeKey", "") or event.get("@odata.etag", ""),
            unmapped=unmapped,
        )
