"""iCal feed URL (RFC 5545): conditional GET, events parsed one by one from a stream, recurring
events expanded within the integration's window (recurring-ical-events), time zones from the
feed's VTIMEZONEs or the IANA database, all-day events kept as dates."""

from __future__ import annotations

import datetime
import hashlib
import logging
import re
import zoneinfo
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import icalendar
import recurring_ical_events
from django.conf import settings
from django.utils import timezone
from icalendar.prop import vBroken, vDDDTypes
from recurring_ical_events.errors import PeriodEndBeforeStart

from connectors import ical_lean, ical_repair, icalstream
from connectors.base import Batch, Connector, Record
from connectors.errors import ConfigError, ItemError
from connectors.fetch import conditional_get
from connectors.kinds import calendar_fields
from connectors.registry import registry
from connectors.zones import zone_for_tzid, zone_named

log = logging.getLogger(__name__)
ACCEPT = "text/calendar, application/calendar+json;q=0.5, */*;q=0.1"
RECURRENCE_MARKERS = re.compile(r"^(RRULE|RDATE|RECURRENCE-ID)[;:]", re.MULTILINE)
DTSTAMP_LINE = re.compile(r"^DTSTAMP[;:].*$", re.MULTILINE)
UID_LINE = re.compile(r"^UID[;:](?:[^:\r\n]*:)?(.*)$", re.MULTILINE)
OCCURRENCE_SEP = "::"
REPAIRS_SHOWN = 10  # corrections spelled out on the job; more are counted
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
    # The timeline's kinds (connectors.kinds): how this connector's records are seen there.
    kind_map = {"event": "event"}
    lean = True  # plain events through connectors.ical_lean (False: icalendar reads every one)

    @staticmethod
    def typed_fields(item) -> dict:
        return calendar_fields(item.data)

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
        self.default_tz = zone_for_tzid(first_pass.header.properties.get("X-WR-TIMEZONE"))
        size = max(1, int(settings.SYNC_BATCH_SIZE))
        self._reader = ical_lean.Reader() if self.lean else None
        scan = _Scan()
        pending, errors, produced = [], [], 0
        for entry in self._entries(fetched, window, scan):
            (errors if isinstance(entry, ItemError) else pending).append(entry)
            scan.read += not isinstance(entry, ItemError)
            if len(pending) + len(errors) >= size:
                produced += len(pending) + len(errors)
                # Mid-feed batches keep the previous cursor: a resumed job fetches the feed again.
                yield Batch(items=pending, errors=errors, cursor=previous, total=max(expected, produced))
                pending, errors = [], []
                self.ctx.heartbeat()
        # A feed cut short says nothing about the events after the cut: nothing is deleted then, and
        # the previous cursor stays, so the next sync downloads the feed again instead of taking
        # the same ETag (or the same cut body) for "unchanged".
        complete = not (scan.truncated or scan.unwrapped)
        deletes = self._deletes(scan, window) if complete else []
        produced += len(pending) + len(errors)
        cursor = fetched.validators if complete else previous
        yield Batch(
            items=pending, errors=errors, deletes=deletes, cursor=cursor, total=produced, notices=scan.notices()
        )

    def _entries(self, fetched, window: Window, scan: _Scan):
        """Every raw item of the feed (plain events, then the occurrences of each recurring
        series), with an ItemError in the place of each one that cannot be read."""
        recurring = {}
        for chunk in self._chunks(fetched):
            if chunk.name == "TRUNCATED":
                scan.truncated = True
                yield ItemError(
                    f"The feed ends in the middle of an event (line {chunk.line}); nothing was deleted this time.",
                    remediation="The calendar's server sent an incomplete file; the next sync reads it again.",
                )
                continue
            if chunk.name == "UNENDED":
                scan.unended = scan.truncated = True
                continue
            if chunk.name == "UNWRAPPED":
                scan.unwrapped = True
                continue
            if chunk.name != "VEVENT":
                continue
            uid = _uid(chunk)
            if RECURRENCE_MARKERS.search(chunk.text):
                recurring.setdefault(uid, []).append(chunk)
                continue
            scan.seen.add(uid)  # read or not: an event we could not read is not a deleted event
            try:
                item = self._plain_event(chunk, uid, scan)
            except Exception as exc:  # noqa: BLE001 - one bad event must not stop the feed
                item = _unreadable(exc, chunk, uid)
            yield item
        for uid, chunks in recurring.items():
            try:
                occurrences = list(self._expand(uid, chunks, window, scan))
            except Exception as exc:  # noqa: BLE001
                scan.failed_series.add(uid)
                yield _unreadable(exc, chunks[0], uid, recurring=True)
                continue
            for item in occurrences:
                scan.seen.add(item["external_id"])
                yield item

    def _deletes(self, scan: _Scan, window: Window) -> list[str]:
        return [
            external_id
            for external_id in self.ctx.known_ids()
            if external_id not in scan.seen
            and external_id.rsplit(OCCURRENCE_SEP, 1)[0] not in scan.failed_series
            and not _aged_out(external_id, window)
        ]

    def _plain_event(self, chunk, uid: str, scan: _Scan) -> dict:
        reader = getattr(self, "_reader", None)
        event = reader.event(chunk.text) if reader is not None else None
        if event is None:
            event = icalendar.Event.from_ical(chunk.text)
            said = ical_repair.duplicates(event)  # the first of each, before the label reads SUMMARY
            scan.repaired(_label(event, uid, chunk.line), said)
        # (the lean reader leaves an event with a property written twice to icalendar, above)
        label = _label(event, uid, chunk.line)
        scan.repaired(label, ical_repair.end_kind(event) + ical_repair.backwards(event))
        start, end = _times(event, label)
        scan.repaired(label, _unknown_zone(event, start))
        return {"external_id": uid, "event": event, "start": start, "end": end}

    def _expand(self, uid: str, chunks, window: Window, scan: _Scan):
        text = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//MetaCortex//expand//EN\r\n"
        if self.default_tz is not None:
            text += f"X-WR-TIMEZONE:{self.default_tz.key}\r\n"
        text += "".join(c.text for c in chunks) + "END:VCALENDAR\r\n"
        calendar = icalendar.Calendar.from_ical(text)
        labelled, repairs, skipped = [], [], False
        for component, chunk in zip(calendar.walk("VEVENT"), chunks, strict=False):
            said = (
                ical_repair.duplicates(component) + ical_repair.end_kind(component) + ical_repair.backwards(component)
            )
            more, dropped = ical_repair.recurrence(component, span=window.end - window.start)
            ical_repair.until_day(component)
            skipped |= dropped
            label = _label(component, uid, chunk.line)
            labelled.append((component, label))
            start, _end = _times(component, label)  # a broken instance fails its series, by name
            repairs.append((label, said + more + _unknown_zone(component, start)))
        _match_instances(calendar)
        try:
            found = recurring_ical_events.of(calendar).between(window.start, window.end)
        except ValueError as exc:
            # A rule that passed the checks yet cannot be expanded (dateutil refuses it): the series
            # without its rules. Other failures are the series' own, reported as unreadable.
            ruled = [(c, label) for c, label in labelled if "RRULE" in c]
            if not ruled or isinstance(exc, PeriodEndBeforeStart):
                raise
            log.info("Feed event %s: expanding its recurrence failed; reading it without its rules", uid, exc_info=True)
            repairs += [(label, [ical_repair.skip_rules(c)]) for c, label in ruled]
            skipped = True
            found = recurring_ical_events.of(calendar).between(window.start, window.end)
        for label, said in repairs:
            scan.repaired(label, said)
        if skipped:
            scan.failed_series.add(uid)  # its other occurrences are unknown now, not deleted
        rules = [_as_text(e["RRULE"]) for e in calendar.walk("VEVENT") if "RRULE" in e]
        rule = rules[0] if rules else ""
        # Occurrences come without their TZID: a zone icalendar left unresolved (zone_for_tzid)
        # is the series' own, as its first start was read.
        masters = [c for c, _label in labelled if "RECURRENCE-ID" not in c]
        zone = _series_zone(masters[0]) if masters else None
        for occurrence in found:
            start, end = _times(occurrence, _label(occurrence, uid, chunks[0].line))
            if zone is not None:
                start, end = _in_zone(start, zone), _in_zone(end, zone)
            key = (
                start.strftime("%Y%m%d")
                if not isinstance(start, datetime.datetime)
                else (_to_utc(start, self.default_tz).strftime("%Y%m%dT%H%M%SZ"))
            )
            yield {
                "external_id": f"{uid}{OCCURRENCE_SEP}{key}",
                "event": occurrence,
                "start": start,
                "end": end,
                "recurring": True,
                "rrule": rule,  # occurrences come without it; keep the series' rule on each
            }

    def transform(self, raw) -> Record:
        event, start, end = raw["event"], raw["start"], raw["end"]
        all_day = not isinstance(start, datetime.datetime)
        floating = not all_day and start.tzinfo is None
        # A floating time without the calendar's zone (X-WR-TIMEZONE): the person's, as CalDAV does.
        zone = self.default_tz or self.ctx.zone()
        occurred_at = _to_utc(start, zone)
        # The same shape as the CalDAV connector's events, so pages and workflows read one format.
        data = {
            "start": start.isoformat(),
            "end": _iso(end),
            "all_day": all_day,
            "tzid": _tz_name(start, zone) if not all_day else None,
            "floating": floating,
            "location": str(event.get("LOCATION", "")),
            "status": str(event.get("STATUS", "")).upper(),
            "url": str(event.get("URL", "")),
            "organizer": _address(event.get("ORGANIZER")),
            "attendees": [_address(a) for a in _list(event.get("ATTENDEE"))],
            "categories": [c for cat in _list(event.get("CATEGORIES")) for c in _categories(cat)],
            "uid": str(event.get("UID", "")),
            "sequence": _int(event.get("SEQUENCE")),
            "rrule": raw.get("rrule") or (_as_text(event["RRULE"]) if "RRULE" in event else ""),
            "recurring": bool(raw.get("recurring")),
            "calendar": getattr(self, "calendar_name", ""),
        }
        if all_day:
            data["date"] = start.isoformat()
        # Values icalendar could not parse (SEQUENCE:abc, GEO:here) are kept as written, not fatal.
        unreadable = [
            ical_repair.written(name, value)
            for name, values in event.items()
            for value in ical_repair.many(values)
            if isinstance(value, vBroken)
        ]
        if unreadable:
            data["unreadable"] = unreadable
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


class Unreadable(ValueError):
    """An event whose times cannot be read; the message names the event and the property."""


@dataclass
class _Scan:
    """What one pass over the feed found, for deciding what was deleted at the source."""

    seen: set[str] = field(default_factory=set)  # ids read, or present but unreadable
    failed_series: set[str] = field(default_factory=set)  # UIDs of recurring events that failed
    truncated: bool = False  # the file was cut short (in an event, or before END:VCALENDAR)
    unended: bool = False  # cut between two events: only END:VCALENDAR is missing
    unwrapped: bool = False  # events without BEGIN:VCALENDAR around them: completeness unknowable

    read: int = 0  # events (and occurrences) read
    repairs: list[str] = field(default_factory=list)  # what was set aside in events that were read

    def repaired(self, label: str, said: list[str]):
        self.repairs += [f"{label} {phrase}." for phrase in said]

    def notices(self) -> list[str]:
        shown = self.repairs[:REPAIRS_SHOWN]
        if len(self.repairs) > REPAIRS_SHOWN:
            shown.append(f"{len(self.repairs) - REPAIRS_SHOWN} more such corrections were made in this feed.")
        return self._shape() + shown

    def _shape(self) -> list[str]:
        stored = f"{self.read} event{'s' if self.read != 1 else ''}"
        if self.unwrapped:
            return [
                "The address returned events without the calendar around them (no BEGIN:VCALENDAR line). "
                f"The hub imported the {stored} it found, but such a file cannot show that it is complete, "
                "so nothing was deleted. Ask the publisher for a standard .ics address if one exists."
            ]
        if self.unended:
            return [
                "The calendar file ended without its closing line (END:VCALENDAR): the download was probably "
                f"cut short. The hub kept the {stored} it received and deleted nothing; the next sync downloads "
                "the feed again."
            ]
        return []


def _label(event, uid: str, line: int) -> str:
    title = str(event.get("SUMMARY", "")).strip()
    named = f"Event {title[:80]!r}" if title else "An event without a title"
    where = f"line {line}" if uid.startswith("nouid-") else f"UID {uid}"
    return f"{named} ({where})"


def _raw(event, name: str) -> str:
    value = _as_text(event.get(name))
    return value if len(value) <= 60 else value[:57] + "..."


def _times(event, label: str):
    """(start, end) of an event, checked: icalendar keeps an unparseable value as text."""
    start = event.decoded("DTSTART", None)
    if start is None:
        raise Unreadable(f"{label} has no start time (DTSTART).")
    if not isinstance(start, datetime.date):
        raise Unreadable(f"{label} has an unreadable start time (DTSTART:{_raw(event, 'DTSTART')}).")
    start = _placed(event, "DTSTART", start)
    if "DTEND" in event:
        end = event.decoded("DTEND")
        if not isinstance(end, datetime.date):
            raise Unreadable(f"{label} has an unreadable end time (DTEND:{_raw(event, 'DTEND')}).")
        return start, _placed(event, "DTEND", end)
    if "DURATION" in event:
        duration = event.decoded("DURATION")
        if not isinstance(duration, datetime.timedelta):
            raise Unreadable(f"{label} has an unreadable duration (DURATION:{_raw(event, 'DURATION')}).")
        return start, start + duration
    return start, (start + datetime.timedelta(days=1) if not isinstance(start, datetime.datetime) else start)


def _match_instances(calendar):
    """A changed instance whose RECURRENCE-ID is a date on a series of date-times (or a date-time
    on an all-day series) names the instance on that date: RFC 5545 wants the value type of
    DTSTART there, but producers write the date alone. Left as written it matched no instance,
    and the change showed beside the original. It is rewritten as the series' start time on that
    date (a rule with several instances a day: the one at the series' own time of day)."""
    events = calendar.walk("VEVENT")
    masters = [e for e in events if "RECURRENCE-ID" not in e and isinstance(e.get("DTSTART"), vDDDTypes)]
    if not masters:
        return
    anchor = masters[0]["DTSTART"]
    start = anchor.dt
    for event in events:
        prop = event.get("RECURRENCE-ID")
        value = getattr(prop, "dt", None)
        if not isinstance(value, datetime.date) or isinstance(prop, list):
            continue
        if not isinstance(start, datetime.datetime) or isinstance(value, datetime.datetime):
            continue  # (a date-time on an all-day series: recurring-ical-events matches it by its date)
        matched = vDDDTypes(datetime.datetime.combine(value, start.time(), tzinfo=start.tzinfo))
        if start.tzinfo is None and anchor.params.get("TZID"):
            matched.params["TZID"] = anchor.params["TZID"]  # a zone the hub resolves later (_placed)
        event["RECURRENCE-ID"] = matched


def _tzid_of(event, name: str) -> str:
    prop = event.get(name)
    prop = prop[0] if isinstance(prop, list) and prop else prop
    return str(getattr(prop, "params", {}).get("TZID") or "")


def _placed(event, name: str, value):
    """A time whose TZID icalendar left unresolved (naive), in the zone the name still means for
    certain (zones.zone_for_tzid: "tzone://Microsoft/Utc", "Eastern Standard Time 1"...)."""
    if not isinstance(value, datetime.datetime) or value.tzinfo is not None:
        return value
    zone = zone_for_tzid(_tzid_of(event, name)) if _tzid_of(event, name) else None
    return value.replace(tzinfo=zone) if zone is not None else value


def _series_zone(component):
    """The zone of a series whose TZID icalendar could not resolve but zone_for_tzid can."""
    start = component.decoded("DTSTART", None)
    if not isinstance(start, datetime.datetime) or start.tzinfo is not None:
        return None
    tzid = _tzid_of(component, "DTSTART")
    return zone_for_tzid(tzid) if tzid else None


def _in_zone(value, zone):
    return value.replace(tzinfo=zone) if isinstance(value, datetime.datetime) and value.tzinfo is None else value


def _unknown_zone(event, start) -> list[str]:
    """What to tell about a start whose TZID names no zone the feed defines or the hub knows: the
    event is kept, read like a floating time (the calendar's zone, else the person's)."""
    if not isinstance(start, datetime.datetime) or start.tzinfo is not None:
        return []
    tzid = _tzid_of(event, "DTSTART")
    if not tzid:
        return []
    return [
        f"uses the time zone {tzid[:80]!r}, which the feed does not define (no VTIMEZONE) and the hub does "
        "not know; the hub read its times in the calendar's own time zone, else yours, so they may be off "
        "by some hours"
    ]


_SUMMARY_LINE = re.compile(r"^SUMMARY[;:](?:[^:\r\n]*:)?(.*)$", re.MULTILINE)


def _unreadable(exc: Exception, chunk, uid: str, *, recurring: bool = False) -> ItemError:
    if isinstance(exc, Unreadable):
        message = str(exc)
    else:
        # The library's own words ("'<' not supported between ...") mean nothing to the person:
        # they go to the log, the person reads which event and what the hub did.
        log.info("Feed event %s could not be read", uid, exc_info=exc)
        match = _SUMMARY_LINE.search(chunk.text)
        title = match.group(1).strip() if match else ""
        label = _label({"SUMMARY": title}, uid, chunk.line)
        message = f"{label}{', a recurring event,' if recurring else ''} is not valid iCalendar."
    if recurring:
        return ItemError(
            f"{message} The hub skipped the series and kept the occurrences it already had.", external_id=uid
        )
    return ItemError(f"{message} The hub skipped it and kept any earlier version.", external_id=uid)


def _int(value) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


_zone = zone_named


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
    if isinstance(value, vBroken):  # any attribute of it raises: keep the text
        return [str(value)]
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
