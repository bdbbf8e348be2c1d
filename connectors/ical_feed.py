"""iCal feed URL (RFC 5545): conditional GET, events parsed one by one from a stream, recurring
events expanded within the integration's window (recurring-ical-events), time zones from the
feed's VTIMEZONEs or the IANA database, all-day events kept as dates."""

from __future__ import annotations

import datetime
import hashlib
import re
import zoneinfo
from urllib.parse import urlsplit

import icalendar
import recurring_ical_events
from django.conf import settings
from django.utils import timezone

from connectors import icalstream
from connectors.base import Batch, Connector, Record
from connectors.errors import ConfigError, ItemError
from connectors.fetch import conditional_get
from connectors.registry import registry

ACCEPT = "text/calendar, application/calendar+json;q=0.5, */*;q=0.1"
RECURRENCE_MARKERS = re.compile(r"^(RRULE|RDATE|RECURRENCE-ID)[;:]", re.MULTILINE)
DTSTAMP_LINE = re.compile(r"^DTSTAMP[;:].*$", re.MULTILINE)
UID_LINE = re.compile(r"^UID[;:](?:[^:\r\n]*:)?(.*)$", re.MULTILINE)
OCCURRENCE_SEP = "::"
# Properties mapped onto the record. DTSTAMP is left out on purpose: many publishers set it to
# the time of every download, which would make every re-sync look like a change.
KNOWN = {
    "UID", "DTSTAMP", "DTSTART", "DTEND", "DURATION", "SUMMARY", "DESCRIPTION", "LOCATION", "URL", "STATUS",
    "ORGANIZER", "ATTENDEE", "CATEGORIES", "RRULE", "RDATE", "EXDATE", "RECURRENCE-ID", "SEQUENCE", "CREATED",
    "LAST-MODIFIED", "TRANSP", "CLASS", "GEO", "PRIORITY",
}  # fmt: skip


def _as_text(value) -> str:
    if isinstance(value, list):
        return ", ".join(_as_text(v) for v in value)
    if hasattr(value, "to_ical"):
        raw = value.to_ical()
        return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return str(value)


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


class Window:
    def __init__(self, config: dict):
        now = timezone.now()
        self.start = now - datetime.timedelta(days=int(config.get("window_past_days", 30)))
        self.end = now + datetime.timedelta(days=int(config.get("window_future_days", 365)))


@registry.register("ical_feed")
class ICalFeedConnector(Connector):
    @property
    def url(self) -> str:
        url = self.secrets.get("url") or self.config.get("url")
        if not url:
            raise ConfigError("No calendar address is set.", field="url", remediation="Enter the .ics address.")
        return url

    def _fetch(self, cursor):
        return conditional_get(self.http, self.url, cursor, accept=ACCEPT)

    def test_connection(self) -> str:
        fetched = self._fetch(None)
        try:
            header = icalstream.CalendarHeader()
            events = sum(1 for chunk in self._chunks(fetched, header) if chunk.name == "VEVENT")
        finally:
            fetched.close()
        name = header.properties.get("X-WR-CALNAME") or urlsplit(self.url).hostname
        return f"{name} ({events} event{'s' if events != 1 else ''})"

    def _chunks(self, fetched, header=None):
        fetched.body.seek(0)
        try:
            yield from icalstream.components(fetched.body, header)
        except icalstream.NotICalendar as exc:
            fetched.body.seek(0)
            start = fetched.body.read(80).decode("utf-8", "replace").strip()
            raise ConfigError(
                f"The address did not return an iCalendar file ({exc}; it starts with {start[:40]!r}).",
                field="url",
                remediation="Check the link: it must be the calendar's .ics / iCal address, not a web page.",
            ) from None

    def list_changes(self, cursor):
        fetched = self._fetch(cursor)
        if fetched.not_modified:
            fetched.close()
            return
        try:
            yield from self._changes(fetched, previous=cursor)
        finally:
            fetched.close()

    def _changes(self, fetched, previous):
        window = Window(self.config)
        fetched.body.seek(0)
        first_pass = icalstream.prescan(fetched.body)
        for text in first_pass.timezones:
            try:
                icalendar.Timezone.from_ical(text)  # parsing caches the definition for the events
            except Exception:  # noqa: BLE001,S112 - an unusable VTIMEZONE falls back to IANA names
                continue
        expected = first_pass.events
        self.calendar_name = first_pass.header.properties.get("X-WR-CALNAME", "")
        self.default_tz = _zone(first_pass.header.properties.get("X-WR-TIMEZONE"))
        batch_size = settings.SYNC_BATCH_SIZE
        seen: set[str] = set()
        pending, errors, recurring = [], [], {}
        for chunk in self._chunks(fetched):
            if chunk.name == "VTIMEZONE":
                continue
            if chunk.name == "TRUNCATED":
                errors.append(ItemError(f"The feed ends in the middle of an event (line {chunk.line})."))
                continue
            if chunk.name != "VEVENT":
                continue
            uid = _uid(chunk)
            if RECURRENCE_MARKERS.search(chunk.text):
                recurring.setdefault(uid, []).append(chunk)
                continue
            try:
                item = self._plain_event(chunk, uid)
            except Exception as exc:  # noqa: BLE001 - one bad event must not stop the feed
                errors.append(ItemError(f"Event at line {chunk.line} is unreadable: {exc}", external_id=uid))
                continue
            seen.add(item["external_id"])
            pending.append(item)
            if len(pending) >= batch_size:
                # Mid-feed batches keep the previous cursor: a resumed job fetches the feed again.
                yield Batch(items=pending, errors=errors, cursor=previous, total=expected)
                pending, errors = [], []
                self.ctx.heartbeat()
        for uid, chunks in recurring.items():
            try:
                occurrences = list(self._expand(uid, chunks, window))
            except Exception as exc:  # noqa: BLE001
                errors.append(ItemError(f"Recurring event {uid} is unreadable: {exc}", external_id=uid))
                continue
            for item in occurrences:
                seen.add(item["external_id"])
                pending.append(item)
        deletes = [
            external_id
            for external_id in self.ctx.known_ids()
            if external_id not in seen and not _aged_out(external_id, window)
        ]
        yield Batch(items=pending, errors=errors, deletes=deletes, cursor=fetched.validators, total=len(seen))

    def _plain_event(self, chunk, uid: str) -> dict:
        event = icalendar.Event.from_ical(chunk.text)
        start = event.decoded("DTSTART", None)
        if start is None:
            raise ValueError("it has no start time (DTSTART)")
        return {"external_id": uid, "event": event, "start": start, "end": _end(event, start)}

    def _expand(self, uid: str, chunks, window: Window):
        text = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//MetaCortex//expand//EN\r\n"
        if self.default_tz is not None:
            text += f"X-WR-TIMEZONE:{self.default_tz.key}\r\n"
        text += "".join(c.text for c in chunks) + "END:VCALENDAR\r\n"
        calendar = icalendar.Calendar.from_ical(text)
        rules = [_as_text(e["RRULE"]) for e in calendar.walk("VEVENT") if "RRULE" in e]
        rule = rules[0] if rules else ""
        for occurrence in recurring_ical_events.of(calendar).between(window.start, window.end):
            start = occurrence.decoded("DTSTART")
            key = (
                start.strftime("%Y%m%d")
                if not isinstance(start, datetime.datetime)
                else (_to_utc(start, self.default_tz).strftime("%Y%m%dT%H%M%SZ"))
            )
            yield {
                "external_id": f"{uid}{OCCURRENCE_SEP}{key}",
                "event": occurrence,
                "start": start,
                "end": _end(occurrence, start),
                "recurring": True,
                "rrule": rule,  # occurrences come without it; keep the series' rule on each
            }

    def transform(self, raw) -> Record:
        event, start, end = raw["event"], raw["start"], raw["end"]
        all_day = not isinstance(start, datetime.datetime)
        floating = not all_day and start.tzinfo is None
        occurred_at = _to_utc(start, self.default_tz)
        # The same shape as the CalDAV connector's events, so pages and workflows read one format.
        data = {
            "start": start.isoformat(),
            "end": _iso(end),
            "all_day": all_day,
            "tzid": _tz_name(start, self.default_tz) if not all_day else None,
            "floating": floating,
            "location": str(event.get("LOCATION", "")),
            "status": str(event.get("STATUS", "")).upper(),
            "url": str(event.get("URL", "")),
            "organizer": _address(event.get("ORGANIZER")),
            "attendees": [_address(a) for a in _list(event.get("ATTENDEE"))],
            "categories": [c for cat in _list(event.get("CATEGORIES")) for c in _categories(cat)],
            "uid": str(event.get("UID", "")),
            "sequence": int(event.get("SEQUENCE", 0) or 0),
            "rrule": raw.get("rrule") or (_as_text(event["RRULE"]) if "RRULE" in event else ""),
            "recurring": bool(raw.get("recurring")),
            "calendar": getattr(self, "calendar_name", ""),
        }
        if all_day:
            data["date"] = start.isoformat()
        if "RECURRENCE-ID" in event:
            data["recurrence_id"] = _iso(event.decoded("RECURRENCE-ID"))
        extra = {name: _as_text(event[name]) for name in event if name not in KNOWN}
        if extra:
            data["extra"] = extra
        return Record(
            external_id=raw["external_id"],
            kind="event",
            title=str(event.get("SUMMARY", "")) or "(no title)",
            summary=str(event.get("DESCRIPTION", "")),
            occurred_at=occurred_at,
            data=data,
            source_url=data["url"] if data["url"].startswith(("http://", "https://")) else "",
            unmapped=sorted(extra),
        )


def _uid(chunk) -> str:
    match = UID_LINE.search(chunk.text)
    if match and match.group(1).strip():
        return match.group(1).strip()
    # No UID (against RFC 5545, but it happens): the event's own text identifies it, minus the
    # DTSTAMP that many publishers rewrite on every download.
    stable = DTSTAMP_LINE.sub("", chunk.text)
    return "nouid-" + hashlib.sha256(stable.encode()).hexdigest()[:32]


def _end(event, start):
    if "DTEND" in event:
        return event.decoded("DTEND")
    if "DURATION" in event:
        return start + event.decoded("DURATION")
    return start + datetime.timedelta(days=1) if not isinstance(start, datetime.datetime) else start


def _zone(name: str | None):
    if not name:
        return None
    try:
        return zoneinfo.ZoneInfo(name.strip())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def _to_utc(value, default_tz) -> datetime.datetime:
    if not isinstance(value, datetime.datetime):
        return datetime.datetime(value.year, value.month, value.day, tzinfo=datetime.UTC)
    if value.tzinfo is None:  # floating time: the calendar's zone, else the hub's
        value = value.replace(tzinfo=default_tz or zoneinfo.ZoneInfo(settings.TIME_ZONE))
    return value.astimezone(datetime.UTC)


def _tz_name(value, default_tz) -> str | None:
    tz = value.tzinfo or default_tz
    if tz is None:
        return None
    return getattr(tz, "key", None) or getattr(tz, "zone", None) or str(tz)


def _address(prop) -> dict:
    if prop is None:
        return {}
    value = str(prop)
    email = value[7:] if value.lower().startswith("mailto:") else value
    result = {"email": email, "name": str(getattr(prop, "params", {}).get("CN", ""))}
    for key in ("PARTSTAT", "ROLE"):
        if key in getattr(prop, "params", {}):
            result[key.lower()] = str(prop.params[key]).upper()
    return result


def _list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _categories(value):
    cats = getattr(value, "cats", None)
    return [str(c) for c in cats] if cats is not None else [str(value)]


def _aged_out(external_id: str, window: Window) -> bool:
    """Occurrences that slid out of the past edge of the window were not deleted at the source."""
    if OCCURRENCE_SEP not in external_id:
        return False
    stamp = external_id.rsplit(OCCURRENCE_SEP, 1)[1]
    try:
        when = datetime.datetime.strptime(stamp[:8], "%Y%m%d").replace(tzinfo=datetime.UTC)
    except ValueError:
        return False
    return when < window.start
