"""Reading Apple Health's export.xml as a stream.

The file is one <HealthData> element holding, in this order, Record (quantity and category
samples), Correlation (blood pressure, food: their Records are repeated inside), Workout (with
WorkoutStatistics, WorkoutEvent and WorkoutRoute/FileReference to workout-routes/*.gpx) and
ActivitySummary (one per day: the three rings and their goals). Several GB after years of Apple
Watch data, so it is streamed: fed line by line to an lxml parser whose target receives each
Record's attributes as one dict (no element tree for the millions of Records, the costliest part
of iterparse), while the few Correlations, Workouts and ActivitySummaries are built as small
trees. Memory stays that of one line and one element, whatever the file's size.

iOS 16 and later write an internal DTD that does not parse (attributes declared twice, an
ELEMENT list naming undeclared types) and let control characters from device names slip into
attribute values: CleanXml drops the DOCTYPE (keeping its newlines so line numbers still match the
file) and those characters before the parser sees them.
"""

from __future__ import annotations

import io
import re

from lxml import etree

CONTROL = bytes(range(0, 9)) + b"\x0b\x0c" + bytes(range(0x0E, 0x20))
PREFIX_LIMIT = 4 * 1024 * 1024  # the DOCTYPE of an export is ~15 KB
TOP_LEVEL = ("Record", "Correlation", "Workout", "ActivitySummary")


class CleanXml(io.RawIOBase):
    def __init__(self, stream):
        self._stream = stream
        self._pending = b""
        self._prefix_done = False

    def readable(self):
        return True

    def _prefix(self) -> bytes:
        data = b""
        while b"<HealthData" not in data and len(data) < PREFIX_LIMIT:
            chunk = self._stream.read(65536)
            if not chunk:
                break
            data += chunk
        start = data.find(b"<!DOCTYPE")
        root = data.find(b"<HealthData")
        if start >= 0 and (root < 0 or start < root):
            end = data.rfind(b"]>", start, root if root >= 0 else len(data))
            end = end + 2 if end >= 0 else data.find(b">", start) + 1
            if end > start:
                data = data[:start] + b"\n" * data.count(b"\n", start, end) + data[end:]
        return data

    def readinto(self, buffer):
        if not self._prefix_done:
            self._pending = self._prefix()
            self._prefix_done = True
        while not self._pending:
            chunk = self._stream.read(max(len(buffer), 65536))
            if not chunk:
                return 0
            self._pending = chunk
        data = self._pending[: len(buffer)].translate(None, CONTROL)
        self._pending = self._pending[len(buffer) :]
        if not data:  # a chunk of control characters only: read on
            return self.readinto(buffer)
        buffer[: len(data)] = data
        return len(data)


RECORD, ELEMENT, BROKEN = "record", "element", "broken"


class _Target:
    """An lxml parser target (no tree is built for the millions of Records): a top-level Record
    becomes (RECORD, line, its attributes as a dict, its MetadataEntry key/values or None); the
    other top-level elements (Correlation, Workout, ActivitySummary) are built whole, small trees
    read with the element API: (ELEMENT, line, element)."""

    def __init__(self, on_record=None):
        self.out: list[tuple] = []
        self._on_record = on_record
        self.line = 0  # the line being fed
        self._depth = 0
        self._record = None
        self._metadata = None
        self._record_line = 0
        self._builder = None

    def start(self, tag, attrib):
        self._depth += 1
        if self._builder is not None:
            self._builder.start(tag, attrib)
        elif self._depth == 2:
            if tag == "Record":
                self._record, self._metadata, self._record_line = attrib, None, self.line
            elif tag in TOP_LEVEL:
                self._builder = etree.TreeBuilder()
                self._builder.start(tag, attrib)
                self._record_line = self.line
        elif self._depth == 3 and self._record is not None and tag == "MetadataEntry":
            if self._metadata is None:
                self._metadata = {}
            self._metadata[attrib.get("key")] = attrib.get("value")

    def end(self, tag):
        depth = self._depth
        self._depth -= 1
        if self._builder is not None:
            self._builder.end(tag)
            if depth == 2:
                self.out.append((ELEMENT, self._record_line, self._builder.close(), None))
                self._builder = None
        elif depth == 2 and self._record is not None:
            if self._on_record is None:
                self.out.append((RECORD, self._record_line, self._record, self._metadata))
            else:  # handled here, without a tuple and a trip through the generators per Record
                found = self._on_record(self._record, self._metadata, self._record_line)
                if found is not None:
                    self.out.append(found)
            self._record = None

    def close(self):
        return None


def elements(stream, on_record=None):
    """The top-level elements in document order, as (RECORD, line, attributes, metadata) for a
    Record and (ELEMENT, line, element, None) for the others, then (BROKEN, line, message, None)
    for each place where the XML was broken: the parser recovers from what it can (a file cut
    short, a broken tag). The file is fed line by line, so each element knows its line.

    With on_record, a Record is given to on_record(attributes, metadata, line) as the parser reads
    it instead (the millions of samples); what it returns, if not None, is yielded in its place. It
    must not raise: an exception would leave the parser mid-document."""
    target = _Target(on_record)
    parser = etree.XMLParser(target=target, resolve_entities=False, no_network=True, huge_tree=True, recover=True)
    out = target.out
    feed = parser.feed
    readline = io.BufferedReader(CleanXml(stream), 256 * 1024).readline
    done = 0  # complete lines fed
    stopped = None
    while True:
        piece = readline(1024 * 1024)  # a line, or a long line's next MB (a file without line breaks)
        if not piece:
            break
        target.line = done + 1
        try:
            feed(piece)
        except etree.XMLSyntaxError as exc:  # beyond what recover mends
            stopped = (BROKEN, done + 1, re.sub(r"\s+", " ", str(exc)), None)
            break
        if piece[-1:] == b"\n":
            done += 1
        if out:
            yield from out
            out.clear()
    try:
        parser.close()
    except etree.XMLSyntaxError as exc:  # the document ends before its root closes
        stopped = stopped or (BROKEN, done + 1, re.sub(r"\s+", " ", str(exc)), None)
    yield from out
    errors = [e for e in list(parser.feed_error_log)[:20] if e.level_name in ("ERROR", "FATAL")]
    for entry in errors:
        yield BROKEN, entry.line, re.sub(r"\s+", " ", entry.message), None
    if stopped and not errors:
        yield stopped


def route_points(stream) -> list[dict]:
    """The track points of a workout-route GPX file: [{"lat", "lon", "time", "elevation"}]."""
    points = []
    for _event, element in etree.iterparse(stream, events=("end",), resolve_entities=False, no_network=True):
        if etree.QName(element).localname != "trkpt":
            continue
        point = {"lat": float(element.get("lat")), "lon": float(element.get("lon"))}
        for child in element:
            name = etree.QName(child).localname
            if name == "time" and child.text:
                point["time"] = child.text.strip()
            elif name == "ele" and child.text:
                point["elevation"] = float(child.text)
        points.append(point)
        element.clear()
    return points
