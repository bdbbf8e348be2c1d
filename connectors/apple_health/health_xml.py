"""Reading Apple Health's export.xml as a stream.

The file is one <HealthData> element holding, in this order, Record (quantity and category
samples), Correlation (blood pressure, food: their Records are repeated inside), Workout (with
WorkoutStatistics, WorkoutEvent and WorkoutRoute/FileReference to workout-routes/*.gpx) and
ActivitySummary (one per day: the three rings and their goals). Several GB after years of Apple
Watch data, so it is streamed: fed in 64 KB pieces to an lxml parser whose target receives each
Record's attributes as one dict (no element tree for the millions of Records, the costliest part
of iterparse), while the few Correlations, Workouts and ActivitySummaries are built as small
trees. Memory stays that of a few pieces and one element, whatever the file's size.

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
FEED_BYTES = 64 * 1024  # fed to the parser at a time, cut where a line begins with a tag
# Where an element's start tag begins (group 1), past comments, CDATA and processing instructions,
# whose text may hold a "<" too (the parser reports no element for them).
_TAG_START = re.compile(rb"<!--.*?-->|<!\[CDATA\[.*?\]\]>|<\?.*?\?>|(<)[^/!?]", re.DOTALL)


class Line:
    """The line an element began on, found only when asked (for a message: rarely).

    The parser is fed big pieces, each cut just before a line that begins with a tag, so that a
    start tag is always wholly inside one piece and its callback fires while that piece is fed; an
    element is known by its piece and the number of start tags before it in the piece, and its line
    is counted from the piece's first line when a message needs it. Counting every line as it went
    (feeding the parser line by line) cost about 15% of the whole parse. A Line keeps its piece
    until it is resolved."""

    __slots__ = ("_ordinal", "_piece", "_value")

    def __init__(self, piece: _Piece, ordinal: int):
        self._piece, self._ordinal, self._value = piece, ordinal, None

    def __int__(self):
        if self._value is None:
            self._value = self._piece.line(self._ordinal)
            self._piece = None
        return self._value

    __index__ = __int__

    def __str__(self):
        return str(int(self))

    def __format__(self, spec):
        return format(int(self), spec)

    def __repr__(self):
        return f"Line({int(self)})"

    def __eq__(self, other):
        return int(self) == other if isinstance(other, int) else NotImplemented

    def __hash__(self):
        return hash(int(self))


class _Piece:
    """A piece fed to the parser: its first line, its bytes, and the line of each start tag in it
    (counted when first asked)."""

    __slots__ = ("data", "first_line", "lines")

    def __init__(self, first_line: int, data: bytes):
        self.first_line, self.data, self.lines = first_line, data, None

    def line(self, ordinal: int) -> int:
        if self.lines is None:
            data, lines, line, previous = self.data, [], self.first_line, 0
            for found in _TAG_START.finditer(data):
                if found.group(1) is None:  # a comment, CDATA or a processing instruction
                    continue
                line += data.count(b"\n", previous, found.start())
                previous = found.start()
                lines.append(line)
            self.lines = lines
        lines = self.lines
        return lines[ordinal] if ordinal < len(lines) else (lines[-1] if lines else self.first_line)


class _Target:
    """An lxml parser target (no tree is built for the millions of Records): a top-level Record
    becomes (RECORD, line, its attributes as a dict, its MetadataEntry key/values or None); the
    other top-level elements (Correlation, Workout, ActivitySummary) are built whole, small trees
    read with the element API: (ELEMENT, line, element). Lines are Line objects."""

    def __init__(self, on_record=None):
        self.out: list[tuple] = []
        self._on_record = on_record
        self.piece = _Piece(1, b"")  # the piece being fed
        self.starts = 0  # start tags met in the piece being fed
        self._depth = 0
        self._record = None
        self._metadata = None
        self._at = (self.piece, 0)  # (piece, ordinal) of the element being read
        self._builder = None

    def start(self, tag, attrib):
        self._depth += 1
        ordinal = self.starts
        self.starts = ordinal + 1
        if self._builder is not None:
            self._builder.start(tag, attrib)
        elif self._depth == 2:
            if tag == "Record":
                self._record, self._metadata, self._at = attrib, None, (self.piece, ordinal)
            elif tag in TOP_LEVEL:
                self._builder = etree.TreeBuilder()
                self._builder.start(tag, attrib)
                self._at = (self.piece, ordinal)
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
                element, self._builder = self._builder.close(), None
                if element.tag == "Correlation" and self._on_record is not None:
                    self._correlated(element)
                else:
                    self.out.append((ELEMENT, Line(*self._at), element, None))
        elif depth == 2 and self._record is not None:
            if self._on_record is None:
                self.out.append((RECORD, Line(*self._at), self._record, self._metadata))
            else:  # handled here, without a tuple and a trip through the generators per Record
                found = self._on_record(self._record, self._metadata)
                if found is not None:
                    if found[1] is None:  # a message about the Record: its line
                        found = (found[0], int(Line(*self._at)), *found[2:])
                    self.out.append(found)
            self._record = None

    def _correlated(self, element):
        """A Correlation's Records (blood pressure, food) repeat Records of the file: given to
        on_record here, in document order like every Record, so what is handed out where does not
        depend on the pieces. A message about one of them names the Correlation's line."""
        line = None
        for child in element.iter("Record"):
            metadata = {m.get("key"): m.get("value") for m in child.iter("MetadataEntry")}
            found = self._on_record(child.attrib, metadata or None)
            if found is not None:
                if found[1] is None:
                    line = line if line is not None else int(Line(*self._at))
                    found = (found[0], line, *found[2:])
                self.out.append(found)

    def close(self):
        return None


def _pieces(stream):
    """The stream in pieces of FEED_BYTES or more, each ending just before a line that begins with a
    tag. Without such a line in 16 x FEED_BYTES (a file without line breaks) that much is a piece,
    ending after its last ">"."""
    carry = b""
    while True:
        data = stream.read(FEED_BYTES)
        if not data:
            break
        if carry:
            data, carry = carry + data, b""
        tag = data.rfind(b"<")
        while tag > 0:
            newline = data.rfind(b"\n", 0, tag)
            if newline < 0:
                break
            if not data[newline + 1 : tag].strip():
                data, carry = data[: newline + 1], data[newline + 1 :]
                break
            tag = data.rfind(b"<", 0, newline)  # that line begins with text: the lines before it
        if not carry:
            if len(data) < 16 * FEED_BYTES:  # no place to cut yet: read on
                carry = data
                continue
            end = data.rfind(b">") + 1  # no line begins with a tag: at least never inside a tag
            if 0 < end < len(data):
                data, carry = data[:end], data[end:]
        yield data
    if carry:
        yield carry


def elements(stream, on_record=None):
    """The top-level elements in document order, as (RECORD, line, attributes, metadata) for a
    Record and (ELEMENT, line, element, None) for the others, then (BROKEN, line, message, None)
    for each place where the XML was broken: the parser recovers from what it can (a file cut
    short, a broken tag). A line is a Line: an int when used, counted only then.

    With on_record, a Record, and each Record of a Correlation, is given to on_record(attributes,
    metadata) as the parser reads it instead (the millions of samples; no Correlation is yielded
    then); what it returns, if not None, is yielded in its place, a
    tuple (kind, line, ...) whose line is None getting the Record's line. It must not raise: an
    exception would leave the parser mid-document."""
    target = _Target(on_record)
    parser = etree.XMLParser(target=target, resolve_entities=False, no_network=True, huge_tree=True, recover=True)
    out = target.out
    feed = parser.feed
    line = 1  # the line the next piece begins on
    stopped = None
    for piece in _pieces(CleanXml(stream)):
        target.piece = _Piece(line, piece)
        target.starts = 0
        try:
            feed(piece)
        except etree.XMLSyntaxError as exc:  # beyond what recover mends
            stopped = (BROKEN, exc.lineno or line, re.sub(r"\s+", " ", str(exc)), None)
            break
        line += piece.count(b"\n")
        if out:
            yield from out
            out.clear()
    try:
        parser.close()
    except etree.XMLSyntaxError as exc:  # the document ends before its root closes
        stopped = stopped or (BROKEN, exc.lineno or line, re.sub(r"\s+", " ", str(exc)), None)
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
