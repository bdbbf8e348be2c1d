"""iCalendar objects <-> the hub's records.

Objects are read by the lean reader (lean.py) when they have the everyday shape, and by
icalendar otherwise; both give the same components to the one mapping below.

One CalDAV object (one .ics resource) is one record: its main component (the VEVENT, VTODO or
VJOURNAL without RECURRENCE-ID) gives the record, its overridden instances are kept in
data["overrides"]. Times keep their own zone in data (start/end in ISO 8601 with offset, tzid);
occurred_at is the aware start (all-day: midnight UTC of that date). Every property we do not
map is kept as text in data["extra"] and named in Record.unmapped.
"""

from __future__ import annotations

import datetime
import hashlib
import re
import uuid
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

import icalendar
from django.conf import settings
from icalendar.prop import vBroken

from connectors import ical_repair
from connectors.base import Record
from connectors.caldav_calendar import lean as lean_reader
from connectors.errors import ItemError
from connectors.text import html_to_text
from connectors.zones import zone_for_tzid, zone_named

UTC = datetime.UTC
KINDS = {"VEVENT": "event", "VTODO": "task", "VJOURNAL": "journal"}
# Mapped to a field of the record or its data.
MAPPED = {
    "UID", "SUMMARY", "DESCRIPTION", "DTSTART", "DTEND", "DURATION", "DUE", "LOCATION", "RRULE", "RDATE",
    "EXDATE", "RECURRENCE-ID", "ATTENDEE", "ORGANIZER", "STATUS", "URL", "CATEGORIES", "CLASS", "TRANSP",
    "PRIORITY", "SEQUENCE", "CREATED", "LAST-MODIFIED", "COMPLETED", "PERCENT-COMPLETE", "GEO",
}  # fmt: skip
# DTSTAMP says when the file was last written (clients rewrite it on every save): nothing a user sees.
IGNORED = {"DTSTAMP"}
_HTML = re.compile(r"</?(p|br|div|span|a|b|i|u|strong|em|ul|ol|li|html|body|table)\b[^>]*>", re.IGNORECASE)
UID_NAMESPACE = uuid.UUID("6f1b4a53-3c55-4c36-9c0e-2b6f4f1b2d8e")


@dataclass
class CalendarObject:
    """A raw item as list_changes yields it: one CalDAV object resource and its text."""

    external_id: str  # the object's unquoted path on the server
    etag: str
    url: str
    calendar: str  # display name of its calendar
    ics: str
    timezone: str | None = None  # the calendar's default zone: where floating times are read
    _parsed: Any = field(default=None, repr=False)

    @property
    def filename(self) -> str:
        return self.external_id.rsplit("/", 1)[-1]

    def parsed(self):
        """The parsed VCALENDAR (lean components, or icalendar's for unusual objects)."""
        if self._parsed is None:
            try:
                self._parsed = read(self.ics)
            except (ValueError, IndexError, KeyError, TypeError) as exc:
                raise ItemError(
                    f"{self.filename} in calendar {self.calendar!r} is not valid iCalendar: {_short(exc)}",
                    external_id=self.external_id,
                ) from None
        return self._parsed


def read(text: str, *, lean: bool = True):
    """Parse a calendar object: the lean reader when it can, icalendar otherwise."""
    if "\n" not in text and "\r" not in text:
        # icalendar.Calendar.from_ical() opens a line-break-free string as a *file path*: a hostile
        # server answering "/proc/self/environ" must get an error, never our files read back.
        raise ValueError("it is not an iCalendar object (a single line)")
    # A UTF-8 byte-order mark (Windows tools write one) is not part of the text: icalendar refuses it.
    text = text.removeprefix("\ufeff")
    head = text.lstrip()[:16].upper()
    if head.startswith("BEGIN:V") and not head.startswith("BEGIN:VCALENDAR"):
        # A bare VEVENT (or VTODO) without the calendar around it: read it as if it had one.
        body = text.strip()
        text = f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//MetaCortex//unwrapped//EN\r\n{body}\r\nEND:VCALENDAR\r\n"
    text = _without_known_zones(text)
    if lean:
        parsed = lean_reader.parse(text)
        if parsed is not None:
            return parsed
    return icalendar.Calendar.from_ical(text)


def components(obj: CalendarObject):
    """(main component, overridden instances) of an object; ItemError when it holds neither."""
    found = [c for c in obj.parsed().subcomponents if c.name in KINDS]
    if not found:
        raise ItemError(
            f"{obj.filename} in calendar {obj.calendar!r} holds no event, task or journal entry.",
            external_id=obj.external_id,
        )
    masters = [c for c in found if "RECURRENCE-ID" not in c]
    main = masters[0] if masters else found[0]  # only overrides: an invitation to single instances
    return main, [c for c in found if c is not main and c.name == main.name]


def to_record(obj: CalendarObject, floating_zone: datetime.tzinfo | None = None) -> Record:
    """`floating_zone`: where a floating time is read when the calendar names no zone of its own
    (the person's, from the connector's Context); the hub's TIME_ZONE when not given."""
    main, overrides = components(obj)
    kind = KINDS[main.name]
    title = _text(main.get("SUMMARY"))
    label = f"{kind.capitalize()} {title!r}" if title else obj.filename
    data: dict[str, Any] = {"calendar": obj.calendar, "uid": _text(main.get("UID"))}
    start = _when(main, "DTSTART", obj, label)
    if kind == "event" and start is None:
        raise ItemError(
            f"{label} in calendar {obj.calendar!r} has no start time (DTSTART).", external_id=obj.external_id
        )
    end = _when(main, "DTEND", obj, label) if kind == "event" else None
    if end is None and start is not None and kind == "event":
        duration = _duration(main)
        if duration is not None:
            end = start + duration
        elif not isinstance(start, datetime.datetime):
            end = start + datetime.timedelta(days=1)  # an all-day event without end lasts its day
        else:
            end = start
    occurred = start
    if kind == "task":
        due = _when(main, "DUE", obj, label)
        data["due"] = _iso(due)
        data["completed"] = _iso(_when(main, "COMPLETED", obj, label))
        data["percent_complete"] = _plain(main.get("PERCENT-COMPLETE"))
        occurred = due or start
    data["start"], data["end"] = _iso(start), _iso(end)
    data["all_day"] = occurred is not None and not isinstance(occurred, datetime.datetime)
    if data["all_day"]:
        data["date"] = occurred.isoformat()
    data["tzid"] = _tzid(main.get("DTSTART") or main.get("DUE"), start or occurred)
    if isinstance(occurred, datetime.datetime) and occurred.tzinfo is None:
        # Local time wherever you are (RFC 5545 3.3.5): placed in the calendar's own zone, else the
        # person's, as the iCal feed does. tzid names it so the timeline reads start/end there too.
        zone = _zone(obj.timezone) or floating_zone or zoneinfo.ZoneInfo(settings.TIME_ZONE)
        data["floating"] = True
        occurred = occurred.replace(tzinfo=zone)
        data["tzid"] = getattr(zone, "key", None) or obj.timezone
    data["location"] = _text(main.get("LOCATION"))
    data["status"] = _text(main.get("STATUS")).upper()
    data["url"] = _text(main.get("URL"))
    data["organizer"] = _address(main.get("ORGANIZER"))
    data["attendees"] = [_address(a) for a in _many(main.get("ATTENDEE"))]
    data["categories"] = [_clean(str(c)) for v in _many(main.get("CATEGORIES")) for c in getattr(v, "cats", [v])]
    for name in ("CLASS", "TRANSP"):
        data[name.lower()] = _text(main.get(name))
    for name in ("PRIORITY", "SEQUENCE"):
        data[name.lower()] = _plain(main.get(name))
    for name in ("CREATED", "LAST-MODIFIED"):
        data[name.lower().replace("-", "_")] = _iso(_when(main, name, obj, label, strict=False))
    if "GEO" in main:
        geo = main.get("GEO")
        readable = not isinstance(geo, vBroken) and hasattr(geo, "latitude")
        data["geo"] = [geo.latitude, geo.longitude] if readable else _plain(geo)
    # What cannot be read is kept as written, with why, rather than failing the whole object.
    unreadable = []
    rules = []
    for rule in _many(main.get("RRULE")):
        problem = ical_repair.rule_problem(rule)
        if problem:
            unreadable.append(f"{_clean(ical_repair.written('RRULE', rule))} ({problem})")
        rules.append(_clean(str(rule)) if isinstance(rule, vBroken) else _ical_text(rule))
    data["rrule"] = "\n".join(rules)
    data["rdate"] = _dates(main.get("RDATE"), "RDATE", unreadable)
    data["exdate"] = _dates(main.get("EXDATE"), "EXDATE", unreadable)
    if unreadable:
        data["unreadable"] = unreadable
    repeated = ical_repair.repeated(main)  # the mapping above reads the first of each
    if repeated:
        data["repeated"] = [_clean(phrase) for phrase in repeated]
    data["recurring"] = bool(rules or data["rdate"])
    if overrides:
        data["overrides"] = [_override(c, obj, label) for c in overrides]
    description = _text(main.get("DESCRIPTION"))
    if _HTML.search(description):
        data["description_html"] = description
        description = html_to_text(description)
    alarms = [_alarm(a) for a in main.subcomponents if a.name == "VALARM"]
    if alarms:
        data["alarms"] = alarms
    extra, unmapped = {}, []
    for name, value in main.property_items(recursive=False, sorted=False):
        if name in MAPPED or name in IGNORED or name in ("BEGIN", "END"):
            continue
        extra.setdefault(name, []).append(_ical_text(value))
    for sub in main.subcomponents:
        if sub.name != "VALARM":
            extra.setdefault(sub.name, []).append(_clean(sub.to_ical().decode("utf-8", "replace")))
    if extra:
        data["extra"] = {k: v[0] if len(v) == 1 else v for k, v in extra.items()}
        unmapped = sorted(extra)
    return Record(
        external_id=obj.external_id,
        kind=kind,
        title=title or "(no title)",
        summary=description,
        occurred_at=_aware(occurred),
        data=data,
        source_url=obj.url,
        version=obj.etag,
        unmapped=unmapped,
    )


def ends_after(obj: CalendarObject, since: datetime.datetime) -> bool:
    """Whether the object matters from `since` on: it ends (or recurs, or is due) after it.

    Undecidable objects (unreadable ones included, so their error is reported) count as after.
    """
    try:
        main, overrides = components(obj)
        label = obj.filename
        if "RRULE" in main or "RDATE" in main:
            # A rule that cannot be read may go on for ever: it counts as open-ended.
            until = [None if isinstance(r, vBroken) else r.get("UNTIL", [None])[0] for r in _many(main.get("RRULE"))]
            if "RDATE" in main or not until or any(u is None for u in until):
                return True
            return any(_aware(u) >= since for u in until)
        dates = [
            _when(main, name, obj, label)
            for name in ("DTEND", "DUE", "COMPLETED", "DTSTART")
            if name in main  # the first of them that exists decides, DTSTART last
        ]
        dates += [_when(c, "DTSTART", obj, label) for c in overrides]
        dates = [d for d in dates if d is not None]
        if main.name == "VEVENT" and "DTEND" not in main and dates:
            duration = _duration(main)
            dates[0] = dates[0] + (duration or datetime.timedelta(days=1))
        return not dates or max(_aware(d) for d in dates) >= since
    except ItemError:
        return True


# -- writing -------------------------------------------------------------------------------------


def card_uid(card) -> str:
    """A UID that is the same every time the same card is delivered (so it overwrites)."""
    key = card.key or "|".join([card.title, str(card.due), card.url])
    return f"{uuid.uuid5(UID_NAMESPACE, key)}@metacortex"


def card_to_ics(card, *, as_event: bool, duration_minutes: int = 30) -> str:
    """A VTODO with DUE (or a VEVENT at the due time) for an outgoing card that has a due date."""
    cal = icalendar.Calendar()
    cal.add("prodid", "-//MetaCortex//Integrations Hub//EN")
    cal.add("version", "2.0")
    comp = icalendar.Event() if as_event else icalendar.Todo()
    comp.add("uid", card_uid(card))
    comp.add("dtstamp", datetime.datetime.now(UTC).replace(microsecond=0))
    comp.add("summary", card.title or "(untitled)")
    if card.markdown:
        comp.add("description", card.markdown)
    if card.url:
        comp.add("url", card.url)
    if card.tags:
        comp.add("categories", list(card.tags))
    due = card.due
    if isinstance(due, datetime.datetime):
        due = (due if due.tzinfo else due.replace(tzinfo=UTC)).astimezone(UTC).replace(microsecond=0)
    if as_event:
        comp.add("dtstart", due)
        if isinstance(due, datetime.datetime):
            comp.add("dtend", due + datetime.timedelta(minutes=duration_minutes))
        else:
            comp.add("dtend", due + datetime.timedelta(days=1))
    else:
        comp.add("due", due)
        comp.add("status", "NEEDS-ACTION")
    if card.key:
        comp.add("x-metacortex-key", hashlib.sha256(card.key.encode()).hexdigest()[:32])
    cal.add_component(comp)
    return cal.to_ical().decode("utf-8")


# -- helpers ---------------------------------------------------------------------------------------

_VTIMEZONE = re.compile(r"BEGIN:VTIMEZONE\r?\n(.*?)END:VTIMEZONE\r?\n", re.DOTALL)
_TZID = re.compile(r"^TZID:(.+?)\r?$", re.MULTILINE)


def _without_known_zones(text: str) -> str:
    """The text minus the VTIMEZONEs of IANA zones (Europe/Paris...).

    icalendar reads such a TZID from the IANA database whether or not the object defines it (and
    the database is right where an embedded copy is out of date), but parsing the definition costs
    more than the event itself. Definitions of other names (Outlook's "W. Europe Standard Time",
    custom ones) are kept: they are what those times mean.
    """
    if "BEGIN:VTIMEZONE" not in text:
        return text

    def drop(match):
        tzid = _TZID.search(match.group(1))
        return "" if tzid and _is_iana(tzid.group(1).strip()) else match.group(0)

    return _VTIMEZONE.sub(drop, text)


def _is_iana(name: str) -> bool:
    return zone_named(name) is not None


def _when(comp, name: str, obj: CalendarObject, label: str, *, strict: bool = True):
    """A date or datetime property: aware datetimes keep their zone; ItemError when unreadable."""
    prop = comp.get(name)
    if prop is None:
        return None
    if isinstance(prop, list):
        prop = prop[0]
    value = _dt(prop)
    if not isinstance(value, datetime.date):
        if not strict:
            return None
        words = ical_repair.SINGLE.get(name) or {"DUE": "due date", "COMPLETED": "completion time"}.get(name, name)
        raise ItemError(
            f"{label} in calendar {obj.calendar!r} has an unreadable {words} "
            f"({_clean(ical_repair.written(name, prop))[:80]}); the hub skipped it and kept any earlier version.",
            external_id=obj.external_id,
        )
    if isinstance(value, datetime.datetime) and value.tzinfo is None:
        tzid = getattr(prop, "params", {}).get("TZID")
        if tzid:
            zone = zone_for_tzid(str(tzid))  # names icalendar does not know but that say one zone
            if zone is not None:
                return value.replace(tzinfo=zone)
            if not strict:
                return None
            raise ItemError(
                f"{label} in calendar {obj.calendar!r} uses the time zone {tzid!r}, which is neither defined in "
                "the event (VTIMEZONE) nor a known zone; set its time zone again in your calendar app.",
                external_id=obj.external_id,
            )
    return value


_zone = zone_named


def _duration(comp) -> datetime.timedelta | None:
    prop = comp.get("DURATION")
    value = _dt(prop)
    return value if isinstance(value, datetime.timedelta) else None


def _aware(value):
    if value is None:
        return None
    if not isinstance(value, datetime.datetime):
        return datetime.datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _tzid(prop, value) -> str | None:
    if not isinstance(value, datetime.datetime) or value.tzinfo is None:
        return None
    tzid = getattr(prop, "params", {}).get("TZID") if prop is not None else None
    if tzid:
        return str(tzid)
    key = getattr(value.tzinfo, "key", None)
    return key or ("UTC" if value.utcoffset() == datetime.timedelta(0) else str(value.tzinfo))


def _dt(prop):
    """A property's decoded value; None when icalendar could not parse it (a vBroken value raises
    on any attribute, where getattr's default would not help)."""
    return None if isinstance(prop, vBroken) else getattr(prop, "dt", None)


def _dates(prop, name: str, unreadable: list[str]) -> list[str]:
    out = []
    for item in _many(prop):
        problem = ical_repair.dates_problem(item)
        if problem:
            unreadable.append(f"{_clean(ical_repair.written(name, item))} ({problem})")
            continue
        for entry in getattr(item, "dts", []):
            dt = getattr(entry, "dt", None)
            if isinstance(dt, tuple):  # a PERIOD
                dt = dt[0]
            if isinstance(dt, datetime.date):
                out.append(dt.isoformat())
    return out


def _override(comp, obj: CalendarObject, label: str) -> dict:
    start = _when(comp, "DTSTART", obj, label)
    end = _when(comp, "DTEND", obj, label)
    if end is None and start is not None:
        duration = _duration(comp)
        end = start + duration if duration is not None else None
    return {
        "recurrence_id": _iso(_when(comp, "RECURRENCE-ID", obj, label)),
        "start": _iso(start),
        "end": _iso(end),
        "title": _text(comp.get("SUMMARY")),
        "status": _text(comp.get("STATUS")).upper(),
        "location": _text(comp.get("LOCATION")),
    }


def _alarm(comp) -> dict:
    trigger = comp.get("TRIGGER")
    value = _dt(trigger)
    if isinstance(value, datetime.timedelta):
        trigger_text = _clean(trigger.to_ical().decode())
    else:
        trigger_text = _iso(value) if isinstance(value, datetime.date) else _text(trigger)
    return {"action": _text(comp.get("ACTION")).upper(), "trigger": trigger_text}


def _address(prop) -> dict:
    if prop is None:
        return {}
    params = getattr(prop, "params", {})
    value = _clean(str(prop))
    email = value[7:] if value.lower().startswith("mailto:") else value
    result = {"email": email, "name": _clean(str(params.get("CN", "")))}
    for key in ("PARTSTAT", "ROLE"):
        if key in params:
            result[key.lower()] = _clean(str(params[key])).upper()
    return result


def _ical_text(value) -> str:
    raw = value.to_ical() if hasattr(value, "to_ical") else str(value)
    return _clean(raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw))


def _many(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        value = value[0]
    return _clean(str(value)).strip()


def _plain(value):
    """An integer-ish property as an int, or its text when the source got it wrong."""
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return _text(value)


def _clean(text: str) -> str:
    # NUL cannot be stored in PostgreSQL text or JSON; lone surrogates cannot be encoded.
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
