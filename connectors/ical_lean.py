"""A lean reader for the everyday VEVENT of a published feed, about ten times faster than
icalendar.Event.from_ical (which was most of a feed sync's time).

It gives the iCal feed connector the same values icalendar would, by construction:
- the few properties every event has and that differ from one event to the next (UID, SUMMARY,
  DESCRIPTION, LOCATION, DTSTART, DTEND, ...) are read here, only in their plain form: text
  without parameters, unescaped as icalendar does; dates and times as written (YYYYMMDD,
  YYYYMMDDTHHMMSS[Z]), in a zone icalendar itself resolved once for this feed (its TZID may name
  a VTIMEZONE of the feed);
- every other line is parsed by icalendar on its own, once per distinct line (ORGANIZER,
  STATUS:CONFIRMED, X-... repeat from event to event), so its value is icalendar's own object;
- a sub-component (VALARM) is not read by the feed connector: it is only checked, by icalendar,
  once per distinct block;
- anything else (a property written twice, a line that is not a content line, a recurrence)
  leaves the whole event to icalendar.

tests/connectors/test_ical_lean.py checks that both readers give the same records.
"""

from __future__ import annotations

import datetime
import re
import zoneinfo

import icalendar

from connectors.ical_repair import SINGLE

CONTENT_LINE = re.compile(r'^([A-Za-z0-9-]+)((?:;[A-Za-z0-9-]+=(?:"[^"]*"|[^";:,]*)(?:,(?:"[^"]*"|[^";:,]*))*)*):(.*)$')
# icalendar unescapes every value this way before typing it (icalendar.parser.property).
TEXT_ESCAPE = re.compile(r"\\([\\,;:nN])")
DATE_VALUE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
DATE_TIME = re.compile(r"^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(Z?)$")
_TZID = re.compile(r'^;TZID=("?)([A-Za-z0-9_+/-]+)\1$')
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# Read here when written without parameters (icalendar types them as TEXT).
TEXT = {"UID", "SUMMARY", "DESCRIPTION", "LOCATION", "STATUS", "CLASS", "TRANSP"}
DATES = {"DTSTART", "DTEND", "DTSTAMP", "CREATED", "LAST-MODIFIED"}
ZONED = {"DTSTART", "DTEND"}  # where icalendar applies a TZID (it leaves DTSTAMP;TZID=... naive)
# A recurring event goes to recurring-ical-events, which needs icalendar's components.
RECURRENCE = {"RRULE", "RDATE", "RECURRENCE-ID", "EXRULE"}
UTC = zoneinfo.ZoneInfo("UTC")  # the zone icalendar gives a time written with Z
_CACHE_MAX = 20_000  # distinct lines remembered for one feed
_MISSING = object()


class _Bail(Exception):
    """Leave this event to icalendar."""


class Text(str):
    """A TEXT value, as icalendar's vText reads (str() is the unescaped text)."""

    params: dict = {}  # read only: a plain TEXT line has no parameters

    def to_ical(self) -> bytes:
        return icalendar.vText(str(self)).to_ical()


class When:
    """A date or date-time, as icalendar's vDDDTypes reads (.dt)."""

    __slots__ = ("dt", "params", "raw")

    def __init__(self, dt, params: dict, raw: str):
        self.dt, self.params, self.raw = dt, params, raw

    def to_ical(self) -> bytes:
        return self.raw.encode("utf-8")


class Event:
    """The part of icalendar's component API the feed connector reads."""

    __slots__ = ("_props",)

    def __init__(self, props: dict):
        self._props = props

    def get(self, name: str, default=None):
        return self._props.get(name, default)

    def __contains__(self, name: str) -> bool:
        return name in self._props

    def __iter__(self):
        return iter(self._props)

    def __getitem__(self, name: str):
        return self._props[name]

    def __setitem__(self, name: str, value):
        self._props[name] = value

    def __delitem__(self, name: str):
        del self._props[name]

    def items(self):
        return self._props.items()

    def decoded(self, name: str, default=_MISSING):
        value = self._props.get(name, _MISSING)
        if value is _MISSING:
            if default is _MISSING:
                raise KeyError(name)
            return default
        if isinstance(value, When):
            return value.dt
        probe = icalendar.Event()  # icalendar's own decoding of its own value
        probe[name] = value
        return probe.decoded(name)


class Reader:
    """One per feed sync: what icalendar said about a line or a zone holds for this feed only
    (its VTIMEZONEs were registered with icalendar before the events are read)."""

    def __init__(self):
        self._lines: dict[str, list] = {}
        self._zones: dict[str, object] = {}
        self._blocks: dict[str, bool] = {}

    def event(self, text: str) -> Event | None:
        """The event of a VEVENT's text (unfolded lines), or None when icalendar should read it."""
        try:
            return self._event(text)
        except _Bail:
            return None
        except (ValueError, TypeError, IndexError, KeyError, AttributeError):
            return None

    def _event(self, text: str) -> Event:
        lines = text.split("\r\n")
        if lines[0] != "BEGIN:VEVENT" or lines[-1] != "" or lines[-2] != "END:VEVENT":
            raise _Bail
        props: dict = {}
        nested: list[str] = []  # the lines of a sub-component (VALARM...), which the feed does not read
        depth = 0
        for line in lines[1:-2]:
            if not line or "\r" in line:
                raise _Bail
            match = CONTENT_LINE.match(line)
            if match is None:
                raise _Bail
            name, params, value = match.group(1).upper(), match.group(2), match.group(3)
            if nested or name == "BEGIN":
                nested.append(line)
                depth += (name == "BEGIN") - (name == "END")
                if depth == 0:
                    self._check("\r\n".join(nested))
                    nested = []
                continue
            if name == "END" or name in RECURRENCE:
                raise _Bail
            if not params and name in TEXT:
                if _CONTROL.search(value):
                    raise _Bail
                found = [Text(TEXT_ESCAPE.sub(unescaped, value) if "\\" in value else value)]
            elif name in DATES and (name in ZONED or "TZID" not in params):
                found = self._when(line, params, value)
            else:
                found = self._line(line)
            for one in found:
                old = props.get(name, _MISSING)
                if old is _MISSING:
                    props[name] = one
                else:
                    props[name] = [*old, one] if isinstance(old, list) else [old, one]
        if nested:
            raise _Bail
        if any(isinstance(props.get(name), list) for name in SINGLE):
            raise _Bail  # icalendar's path says which copy was kept, in words
        return Event(props)

    def _when(self, line: str, params: str, value: str) -> list:
        if not params:
            tz = None
        elif params == ";VALUE=DATE":
            if len(value) != 8:
                return self._line(line)
            tz = None
        else:
            zone = _TZID.match(params)
            if zone is None or len(value) != 15:
                return self._line(line)
            tz = self._zone(zone.group(2))
            if tz is None:
                return self._line(line)
        if len(value) == 8:
            year, month, day = DATE_VALUE.match(value).groups()
            return [When(datetime.date(int(year), int(month), int(day)), _params(params), value)]
        match = DATE_TIME.match(value)
        if match is None:
            return self._line(line)
        year, month, day, hour, minute, second, utc = match.groups()
        dt = datetime.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
        if utc:
            dt = dt.replace(tzinfo=UTC)
        elif tz is not None:
            dt = dt.replace(tzinfo=tz)
        return [When(dt, _params(params), value)]

    def _zone(self, tzid: str):
        """The zone icalendar gives this TZID in this feed, when it is a plain ZoneInfo (whose
        times are the written time with that zone attached); None otherwise."""
        if tzid not in self._zones:
            probe = icalendar.Event.from_ical(
                f"BEGIN:VEVENT\r\nDTSTART;TZID={tzid}:20260105T100000\r\nEND:VEVENT\r\n"
            ).get("DTSTART")
            dt = getattr(probe, "dt", None)
            tz = dt.tzinfo if isinstance(dt, datetime.datetime) else None
            self._zones[tzid] = tz if isinstance(tz, zoneinfo.ZoneInfo) and tz.key == tzid else None
        return self._zones[tzid]

    def _check(self, block: str):
        """A sub-component is not read, but one icalendar cannot parse makes the event unreadable:
        it is parsed on its own (once per distinct block, as alarms repeat) to know."""
        if block not in self._blocks:
            if len(self._blocks) >= _CACHE_MAX:
                self._blocks.clear()
            try:
                icalendar.Event.from_ical(f"BEGIN:VEVENT\r\n{block}\r\nEND:VEVENT\r\n")
            except Exception:  # noqa: BLE001 - whatever icalendar refuses, it refuses in the whole event too
                self._blocks[block] = False
            else:
                self._blocks[block] = True
        if not self._blocks[block]:
            raise _Bail

    def _line(self, line: str) -> list:
        """icalendar's values for one content line, parsed on its own (once per distinct line)."""
        found = self._lines.get(line)
        if found is None:
            event = icalendar.Event.from_ical(f"BEGIN:VEVENT\r\n{line}\r\nEND:VEVENT\r\n")
            if event.subcomponents:
                raise _Bail
            found = [one for _, value in event.items() for one in (value if isinstance(value, list) else [value])]
            if len(self._lines) >= _CACHE_MAX:
                self._lines.clear()
            self._lines[line] = found
        return found


def unescaped(match) -> str:
    """The character a TEXT_ESCAPE match stands for."""
    char = match.group(1)
    return "\n" if char in "nN" else char


def _params(params: str) -> dict:
    if not params:
        return {}
    key, _, value = params[1:].partition("=")
    return {key.upper(): value.strip('"')}
