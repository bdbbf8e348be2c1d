"""Streaming an iCalendar file component by component, so a 100,000-event feed is never held in
memory as one parsed tree. Lines are unfolded (RFC 5545 3.1) and each top-level component of
the VCALENDAR comes out as its own text, ready for icalendar to parse on its own.

Real files are not always well formed, and the shape of the file is reported as marker chunks
among the components, so the reader can say what it found (and never take a cut file as whole):
  UNWRAPPED  the components stand alone, without BEGIN:VCALENDAR around them
  TRUNCATED  the file ends in the middle of a component (that component is lost)
  UNENDED    the file ends between components, without its closing END:VCALENDAR
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from connectors.encodings import UTF8_ELSE_CP1252

BOM = "\ufeff"  # a UTF-8 byte-order mark, which Windows tools write before BEGIN:VCALENDAR
BOM_BYTES = BOM.encode()
# Components that may stand at the top of a calendar: a file that starts with one of them is a
# calendar whose wrapper was left out.
TOP_LEVEL = {"VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY", "VTIMEZONE", "VAVAILABILITY"}
MARKERS = {"UNWRAPPED", "TRUNCATED", "UNENDED"}


@dataclass
class Chunk:
    name: str  # VEVENT, VTODO, VTIMEZONE, ..., or one of MARKERS
    text: str
    line: int  # where it starts, for error messages


@dataclass
class CalendarHeader:
    properties: dict[str, str] = field(default_factory=dict)  # X-WR-CALNAME, X-WR-TIMEZONE, ...


class NotICalendar(ValueError):
    pass


def text_of(line: bytes) -> str:
    """One content line as text: UTF-8 (RFC 5545), any byte that is not read as Windows-1252."""
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("utf-8", UTF8_ELSE_CP1252)


def _unfolded_lines(stream: BinaryIO) -> Iterator[tuple[int, str]]:
    """(line number, content line) with folds undone as icalendar undoes them: blank lines are
    dropped, even between a line and its continuation (some publishers insert them). Lines are
    joined as bytes and only then decoded: many publishers fold in the middle of a character's
    UTF-8 bytes, which RFC 5545 3.1 asks readers to restore."""
    pending: list[bytes] | None = None
    start = 0
    for number, raw in enumerate(stream, start=1):
        line = raw.rstrip(b"\r\n")
        if number == 1:
            line = line.removeprefix(BOM_BYTES)
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and pending is not None:
            pending.append(line[1:])
            continue
        if pending is not None:
            yield start, text_of(b"".join(pending))
        pending, start = [line], number
    if pending is not None:
        yield start, text_of(b"".join(pending))


@dataclass
class Prescan:
    timezones: list[str] = field(default_factory=list)  # raw VTIMEZONE texts
    events: int = 0
    header: CalendarHeader = field(default_factory=CalendarHeader)


def prescan(stream: BinaryIO) -> Prescan:
    """A cheap first pass over raw bytes: the VTIMEZONE definitions (which may come after the
    events that use them), the calendar's own properties and the number of events."""
    result, depth, zone, top = Prescan(), 0, None, 1
    for number, raw in enumerate(stream):
        if number == 0:
            raw = raw.removeprefix(BOM_BYTES)
            # Without the VCALENDAR wrapper, the components sit one level higher.
            top = 1 if raw.startswith(b"BEGIN:VCALENDAR") else 0
        if raw.startswith(b"BEGIN:"):
            depth += 1
            if raw.startswith(b"BEGIN:VEVENT"):
                result.events += 1
            elif raw.startswith(b"BEGIN:VTIMEZONE") and depth == top + 1:
                zone = []
        elif raw.startswith(b"END:"):
            depth -= 1
            if zone is not None:
                zone.append(raw)
                if depth == top:
                    result.timezones.append(text_of(b"".join(zone)))
                    zone = None
                continue
        elif depth == 1 and top == 1 and b":" in raw and raw[:1] not in (b" ", b"\t"):
            key, _, value = text_of(raw).rstrip("\r\n").partition(":")
            result.header.properties[key.split(";", 1)[0].upper()] = value
        if zone is not None:
            zone.append(raw)
    return result


def components(stream: BinaryIO, header: CalendarHeader | None = None) -> Iterator[Chunk]:
    """Yield every top-level component inside BEGIN:VCALENDAR ... END:VCALENDAR, and the markers
    of a file that is not quite that (see the module's docstring)."""
    depth, current, name, begin_line = 0, [], "", 0
    seen_calendar, wrapped, open_calendar, last_line = False, False, False, 0
    for number, line in _unfolded_lines(stream):
        last_line = number
        # Only BEGIN and END lines shape the file; other names are read where they matter (depth 0).
        key = line.split(":", 1)[0].split(";", 1)[0].upper() if line[:1] in "BbEe" or depth == 0 else ""
        if key == "BEGIN":
            value = line.split(":", 1)[1].strip().upper() if ":" in line else ""
            if value == "VCALENDAR" and depth == 0:
                seen_calendar = wrapped = open_calendar = True  # several calendars in a row are read as one
                continue
            if not seen_calendar:
                if value not in TOP_LEVEL:
                    raise NotICalendar(f"line {number}: content before BEGIN:VCALENDAR")
                seen_calendar = True
                yield Chunk(name="UNWRAPPED", text="", line=number)
            if depth == 0:
                current, name, begin_line = [], value, number
            depth += 1
            current.append(line)
            continue
        if not seen_calendar:
            raise NotICalendar(f"line {number} is not iCalendar: {line[:60]!r}")
        if key == "END":
            value = line.split(":", 1)[1].strip().upper() if ":" in line else ""
            if value == "VCALENDAR" and depth == 0:
                open_calendar = False
                continue
            depth -= 1
            current.append(line)
            if depth == 0:
                yield Chunk(name=name, text="\r\n".join(current) + "\r\n", line=begin_line)
                current = []
            elif depth < 0:
                depth = 0
            continue
        if depth == 0:
            if header is not None and ":" in line:
                header.properties[key] = line.split(":", 1)[1]
            continue
        current.append(line)
    if not seen_calendar:
        raise NotICalendar("no BEGIN:VCALENDAR found")
    if depth > 0:
        # A truncated file: the last component never ended. Return what is complete and say so.
        yield Chunk(name="TRUNCATED", text="\r\n".join(current), line=begin_line)
    elif wrapped and open_calendar:
        # Every component ended, but the calendar did not: the download may have stopped between two
        # events, and nothing tells how many came after.
        yield Chunk(name="UNENDED", text="", line=last_line)
