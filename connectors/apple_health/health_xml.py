"""Reading Apple Health's export.xml as a stream.

The file is one <HealthData> element holding, in this order, Record (quantity and category
samples), Correlation (blood pressure, food: their Records are repeated inside), Workout (with
WorkoutStatistics, WorkoutEvent and WorkoutRoute/FileReference to workout-routes/*.gpx) and
ActivitySummary (one per day: the three rings and their goals). Several GB after years of Apple
Watch data, so it is parsed with lxml's iterparse and each element cleared once read.

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


def elements(stream):
    """Each top-level element in document order, then (line, message) for each place where the
    XML was broken. An element is only valid until the next one is asked for: it is cleared then
    (its line is element.sourceline). Structural damage (a file cut short, a broken tag) is
    reported that way; the parser recovers from what it can. Only the top-level tags reach
    Python (not their MetadataEntry children, read with their element)."""
    parser = etree.iterparse(
        CleanXml(stream),
        events=("end",),
        tag=TOP_LEVEL,
        resolve_entities=False,
        no_network=True,
        huge_tree=True,
        recover=True,
    )
    for _event, element in parser:
        parent = element.getparent()
        if parent is None or parent.getparent() is not None:
            continue  # a Record inside a Correlation: read with its Correlation
        yield element
        element.clear()
        while element.getprevious() is not None:
            del parent[0]
    if parser.error_log:
        for entry in list(parser.error_log)[:20]:
            if entry.level_name in ("ERROR", "FATAL"):
                yield entry.line, re.sub(r"\s+", " ", entry.message)


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
