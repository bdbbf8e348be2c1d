"""What every uploaded-export connector shares: opening zips safely, listing the files of an upload,
counting bytes for progress, telling one export from another, and reading CSVs whose column names
drift between versions.

An upload is a list of paths on this server (a sync job's options["archive_paths"]). Each path is a
zip or a plain file; the files inside are `Member`s, read as streams, never extracted to disk and
never held whole in memory.

Zip safety: a member named "../x" or "/etc/x" is never read (we never extract, but such a name
means a forged archive); a member whose size is more than MAX_RATIO times its compressed size, or
an archive declaring more than MAX_TOTAL bytes, is a zip bomb. zipfile itself stops reading a
member at its declared size and checks its CRC, so a lying header cannot inflate past the limits.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import hashlib
import io
import itertools
import posixpath
import re
import threading
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from connectors.base import Batch, Connector
from connectors.encodings import UTF8_ELSE_CP1252
from connectors.errors import ConfigError, ItemError

HEAD_BYTES = 8192


def max_total_bytes() -> int:
    return getattr(settings, "ARCHIVE_MAX_TOTAL_BYTES", 64 * 1024**3)  # years of Apple Watch data fit


def max_ratio() -> int:
    return getattr(settings, "ARCHIVE_MAX_RATIO", 250)  # XML compresses ~20x; bombs 1000x and more


RATIO_FLOOR = 1024 * 1024  # small members may compress absurdly well (a file of spaces): harmless


def human_size(size: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return ""


@dataclass(frozen=True)
class Member:
    """One file of an upload: a zip member (archive set) or a plain file (archive empty)."""

    archive: str
    name: str
    size: int

    @property
    def label(self) -> str:
        """How the file is named to the user: "export.zip: apple_health_export/export.xml"."""
        if self.archive:
            return f"{Path(self.archive).name}: {self.name}"
        return Path(self.name).name

    @property
    def basename(self) -> str:
        return posixpath.basename(self.name) if self.archive else Path(self.name).name

    def open(self) -> io.BufferedIOBase:
        """A binary stream (close it). A damaged member raises ItemError naming it. Within
        shared_zips() (an import, an upload check) the member's zip is opened once for all of them."""
        try:
            if not self.archive:
                return open(self.name, "rb")  # the caller closes it
            shared = _shared_zip(self.archive)
            if shared is not None:
                return shared.open(self.name)
            archive = zipfile.ZipFile(self.archive)
            return _OwningStream(archive, archive.open(self.name))
        except (OSError, zipfile.BadZipFile, KeyError):
            raise ItemError(
                f"{self.label} could not be opened: the file is missing or the archive is damaged.",
                external_id=self.label,
            ) from None

    def head(self, size: int = HEAD_BYTES) -> bytes:
        """The first bytes, or b"" when they cannot be read (the import then names the file)."""
        try:
            with self.open() as stream:
                return stream.read(size)
        except (ItemError, zipfile.BadZipFile, EOFError, OSError, zlib.error):
            return b""


_shared = threading.local()


def _shared_zip(path: str) -> zipfile.ZipFile | None:
    """The open zip at path within shared_zips(), else None."""
    zips = getattr(_shared, "zips", None)
    if zips is None:
        return None
    if path not in zips:
        zips[path] = zipfile.ZipFile(path)
    return zips[path]


@contextlib.contextmanager
def _using(zips: dict):
    """Member.open and head use these open zips in this thread (unless an outer shared_zips does)."""
    previous = getattr(_shared, "zips", None)
    _shared.zips = previous if previous is not None else zips
    try:
        yield
    finally:
        _shared.zips = previous


@contextlib.contextmanager
def shared_zips():
    """Within it, Member.open and Member.head open each zip once. Alone, they open the member's zip
    anew, reading the whole central directory each time: over a Takeout of thousands of JSON files
    (Fit, Keep) or an Apple Photos library of thousands of sidecars that is minutes; with one open
    zip it is a second. Nested uses share the outermost one's zips."""
    zips: dict[str, zipfile.ZipFile] = {}
    try:
        with _using(zips):
            yield
    finally:
        for archive in zips.values():
            archive.close()


class _OwningStream(io.RawIOBase):
    """A zip member stream that closes its ZipFile with it."""

    def __init__(self, archive: zipfile.ZipFile, stream):
        self._archive, self._stream = archive, stream

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self):
        if not self.closed:
            self._stream.close()
            self._archive.close()
        super().close()


class Counting(io.RawIOBase):
    """A read-only stream that counts the bytes read through it (for progress estimates), and turns
    a damaged zip member into a plain-sentence error naming the file."""

    def __init__(self, stream, label: str):
        self._stream, self.label, self.count = stream, label, 0

    def readable(self):
        return True

    def readinto(self, buffer):
        try:
            data = self._stream.read(len(buffer))
        except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as exc:
            raise TruncatedFile(self.label, self.count, exc) from None
        buffer[: len(data)] = data
        self.count += len(data)
        return len(data)

    def close(self):
        if not self.closed:
            self._stream.close()
        super().close()


class TruncatedFile(Exception):
    """A file of the upload ends early or is corrupt part-way: what was read before is kept."""

    def __init__(self, label: str, offset: int, cause: BaseException):
        super().__init__(f"{label} is damaged or cut short after {human_size(offset)}")
        self.label, self.cause = label, cause

    def item_error(self) -> ItemError:
        return ItemError(
            f"{self}. The records before that point were imported; upload a complete copy to get the rest.",
            external_id=self.label,
        )


@contextlib.contextmanager
def reading_ahead(member: Member):
    """A stream of the member for a parser's pass before the import's own (the last version of each
    highlight, the last row of each order, a file's date order). Damage part-way, or a line too long
    to read, ends this pass quietly where it is: the import's pass imports what comes before and
    names the damage when it reaches it."""
    stream = Counting(member.open(), member.label)
    try:
        yield stream
    except (TruncatedFile, ItemError):
        pass
    finally:
        stream.close()


def max_entries() -> int:
    return getattr(settings, "ARCHIVE_MAX_ENTRIES", 250_000)  # a 50 GB Takeout part holds tens of thousands


def directory_size(path: str) -> tuple[int, int]:
    """(entries, bytes) of a zip's central directory as its end record declares them, read from the
    file's last bytes: zipfile reads the whole directory into memory, one object per entry, before
    anything can be checked (300,000 empty entries, a 30 MB upload, take it a minute). (0, 0) when
    there is no end record (zipfile then says the archive is damaged)."""
    with open(path, "rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - 65536 - 22))
        tail = handle.read()
        end = tail.rfind(b"PK\x05\x06")
        if end < 0 or end + 22 > len(tail):
            return 0, 0
        entries = int.from_bytes(tail[end + 10 : end + 12], "little")
        directory = int.from_bytes(tail[end + 12 : end + 16], "little")
        locator = end - 20
        if locator >= 0 and tail[locator : locator + 4] == b"PK\x06\x07":  # ZIP64: the real counts
            handle.seek(int.from_bytes(tail[locator + 8 : locator + 16], "little"))
            record = handle.read(56)
            if record[:4] == b"PK\x06\x06":
                entries = int.from_bytes(record[32:40], "little")
                directory = int.from_bytes(record[40:48], "little")
    return entries, directory


def check_entries(path: str) -> None:
    """ConfigError when the zip at path holds more files than an export does (its directory is
    not read: see directory_size). A directory entry takes 46 bytes and a name; one more than 160
    bytes an entry on average is counted as that many entries, however few its end record says."""
    entries, directory = directory_size(path)
    if entries > max_entries() or directory > max_entries() * 160:
        raise ConfigError(
            f"{Path(path).name} holds {'more than ' if entries <= max_entries() else ''}"
            f"{max(entries, directory // 160):,} files, more than the import limit ({max_entries():,}).",
            remediation="Upload the original export; ask the operator if a genuine export holds this many files.",
        )


def open_zip(path: str) -> zipfile.ZipFile:
    """The zip at path, refused with a sentence naming it when it is empty, not a zip, cut short
    (no central directory), a zip bomb or one of more files than an export holds."""
    name = Path(path).name
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{name} does not exist on the server.", remediation="Upload the file again.")
    if file.stat().st_size == 0:
        raise ConfigError(f"{name} is empty (0 bytes).", remediation="Upload the file again; the upload was lost.")
    check_entries(path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise ConfigError(
            f"{name} is not a readable zip archive: it is damaged or was cut short.",
            remediation="Download the export again and upload the complete file.",
        ) from None
    total = sum(info.file_size for info in archive.infolist())
    if total > max_total_bytes():
        archive.close()
        raise ConfigError(
            f"{name} would unpack to {human_size(total)}, more than the import limit "
            f"({human_size(max_total_bytes())}).",
            remediation="Upload the original export; ask the operator if a genuine export is this large.",
        )
    return archive


def looks_like_zip(file: Path) -> bool:
    """A zip, whole or cut short (then open_zip says so): its first bytes are a local file header."""
    with open(file, "rb") as handle:
        start = handle.read(4)
    return start in (b"PK\x03\x04", b"PK\x05\x06") or zipfile.is_zipfile(file)


def unsafe_reason(info: zipfile.ZipInfo) -> str:
    """Why a member must not be read, or ""."""
    name = info.filename.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in name.split("/"):
        return "its name points outside the archive"
    if info.file_size > RATIO_FLOOR and info.file_size > max_ratio() * max(info.compress_size, 1):
        return f"it would unpack to {human_size(info.file_size)} from {human_size(info.compress_size)} (a zip bomb)"
    return ""


def mac_metadata(name: str) -> bool:
    """What a Mac adds to a zip it makes (Finder's "Compress"): the __MACOSX folder and the "._<name>"
    AppleDouble file beside each file, named like the file and holding none of it."""
    parts = name.replace("\\", "/").split("/")
    return "__MACOSX" in parts[:-1] or parts[-1].startswith("._")


def members(paths: list[str]) -> tuple[list[Member], list[ItemError]]:
    """Every file of an upload in a stable order, and an error for each member that is refused."""
    found, refused = [], []
    for path in paths:
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"{file.name} does not exist on the server.", remediation="Upload the file again.")
        if looks_like_zip(file):
            with open_zip(path) as archive:
                for info in archive.infolist():
                    if info.is_dir() or mac_metadata(info.filename):
                        continue
                    reason = unsafe_reason(info)
                    member = Member(str(file), info.filename, info.file_size)
                    if reason:
                        refused.append(ItemError(f"{member.label} was skipped: {reason}.", external_id=member.label))
                    else:
                        found.append(member)
        else:
            found.append(Member("", str(file), file.stat().st_size))
    return found, refused


# -- telling exports apart --------------------------------------------------------------------------
EXPORTS = {
    "apple-health": "an Apple Health export",
    "google-takeout": "a Google Takeout archive",
    "spotify": "a Spotify data export",
    "myfitnesspal": "a MyFitnessPal export",
    "amazon-orders": "an Amazon order history",
    "kindle": "a Kindle My Clippings file",
    "mint": "a Mint transactions file",
    "qif": "a Quicken QIF file",
    "quicken": "a Quicken QIF or OFX file",
    "ofx": "an OFX bank statement",
    "google-location": "a Google Location History export",
    "youtube-history": "a YouTube watch history export",
    "google-maps-places": "a Google Maps saved places export",
}


# Zip, gzip, 7-Zip, RAR: archives are never read inside an archive.
ARCHIVE_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"\x1f\x8b", b"7z\xbc\xaf\x27\x1c", b"Rar!\x1a\x07")
ARCHIVE_NAME = re.compile(r"\.(zip|gz|tgz|7z|rar)$", re.I)


def identify_member(member: Member, head: bytes | None = None) -> str:
    """The EXPORTS key a single file looks like, or ""."""
    name = member.name.replace("\\", "/")
    base = posixpath.basename(name).lower()
    if name.startswith("Takeout/") or "/Takeout/" in name:
        return "google-takeout"
    if re.search(r"(streaminghistory|streaming_history_audio|endsong_)", base):
        return "spotify"
    if re.match(r"(nutrition|exercise|measurement)-summary", base):
        return "myfitnesspal"
    if base.startswith("retail.orderhistory"):
        return "amazon-orders"
    if base in ("export.xml", "export_cda.xml") or name.startswith("apple_health_export/"):
        return "apple-health" if base != "export_cda.xml" else ""
    if head is None or head.startswith(ARCHIVE_MAGIC):
        return ""  # an archive's bytes are no export's text, even where a stored member shows through
    text = decode_head(head).lstrip(" \r\n\t")
    upper = text.upper()
    if "<HEALTHDATA" in upper:
        return "apple-health"
    if upper.startswith("OFXHEADER") or "<OFX>" in upper or "<?OFX" in upper:
        return "ofx"
    if re.match(r"!(TYPE|ACCOUNT|OPTION|CLEAR)", upper):
        return "qif"
    if "==========" in text and re.search(r"^- .*\|", text, re.M):
        return "kindle"
    if any(key in text for key in ('"timelineObjects"', '"semanticSegments"', '"rawSignals"')) or (
        '"locations"' in text and "latitudeE7" in text
    ):
        return "google-location"
    if text.startswith("[") and '"header"' in text and "youtube.com/watch" in text:
        return "youtube-history"
    if '"FeatureCollection"' in text and ("maps.google" in text or "google.com/maps" in text):
        return "google-maps-places"
    first = _normal(text.split("\n", 1)[0])
    if "orderid" in first and "asin" in first:
        return "amazon-orders"
    if "transactiontype" in first and "originaldescription" in first:
        return "mint"
    return ""


def identify(paths: list[str]) -> str:
    """What an upload looks like as a whole (the first file recognised), or ""."""
    found, _ = members(paths)
    for member in found[:2000]:
        key = identify_member(member)
        if key:
            return key
    with shared_zips():
        for member in found[:50]:
            if member.size:
                key = identify_member(member, member.head())
                if key:
                    return key
    return ""


def sniff(paths: list[str], expected: str, wanted) -> tuple[list[Member], str]:
    """Check an upload before an import starts: (the members `wanted` accepts, a description of
    them), or ConfigError naming the file that is empty, damaged or another kind of export."""
    if not paths:
        raise ConfigError("No file was uploaded.", remediation=f"Upload {EXPORTS[expected]}.")
    with shared_zips():
        accepted = _sniff(paths, expected, wanted)
    size = sum(Path(p).stat().st_size for p in paths)
    names = ", ".join(m.basename for m in accepted[:3])
    if len(accepted) > 3:
        names += f" and {len(accepted) - 3} more"
    return accepted, f"{human_size(size)}, {names} found"


def _sniff(paths: list[str], expected: str, wanted) -> list[Member]:
    accepted = []
    for path in paths:
        file = Path(path)
        if file.is_file() and file.stat().st_size == 0:
            raise ConfigError(f"{file.name} is empty (0 bytes).", remediation="Upload the file again.")
        found, refused = members([path])
        mine = [m for m in found if m.size and wanted(m)]
        if not mine:
            other = identify([path])
            nested = [m for m in found if m.archive and ARCHIVE_NAME.search(m.name)]
            remediation = f"Upload {EXPORTS[expected]}."
            if other and other != expected:
                message = f"{file.name} is {EXPORTS[other]}, not {EXPORTS[expected]}."
            elif nested:
                names = ", ".join(m.basename for m in nested[:3]) + (" and more" if len(nested) > 3 else "")
                message = f"{file.name} holds another archive ({names}) instead of {EXPORTS[expected]}."
                remediation = f"Unzip {nested[0].basename} and upload what it holds."
            elif refused:
                message = f"Nothing in {file.name} could be read: " + " ".join(e.message for e in refused[:3])
                remediation = "Upload the export exactly as the service sent it."
            else:
                message = f"{file.name} does not look like {EXPORTS[expected]}."
            raise ConfigError(message[:1000], remediation=remediation)
        accepted += mine
    return accepted


# -- CSV -----------------------------------------------------------------------------------------------
def _normal(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def sniff_encoding(head: bytes) -> str:
    """The encoding of a text file from its first bytes: a byte order mark says UTF-8 or UTF-16
    (Excel's "Unicode text"); UTF-16 without one shows as every other byte NUL in ASCII text;
    anything else is read as UTF-8 (bytes that are not are read as Windows-1252)."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    sample = head[:512]
    if len(sample) >= 8:
        even, odd = sample[0::2], sample[1::2]
        if odd.count(0) > len(odd) * 0.6 and even.count(0) < len(even) * 0.1:
            return "utf-16-le"
        if even.count(0) > len(even) * 0.6 and odd.count(0) < len(odd) * 0.1:
            return "utf-16-be"
    return "utf-8-sig"


def decode_head(head: bytes) -> str:
    """The first bytes of a file as text, whatever its encoding (a character cut at the end aside)."""
    encoding = sniff_encoding(head)
    if encoding.startswith("utf-16") and len(head) % 2:
        head = head[:-1]
    errors = UTF8_ELSE_CP1252 if encoding == "utf-8-sig" else "replace"
    return head.decode(encoding, errors).lstrip("\ufeff").replace("\x00", "")


MAX_LINE_CHARS = 32 * 1024 * 1024  # no export's line is near this; a longer one would be read whole into memory


class _Text(io.TextIOBase):
    """Decoded text without NUL characters: PostgreSQL cannot store them, and no export means them
    (a damaged file, or one padded with zeros). A line longer than MAX_LINE_CHARS stops the file
    with an ItemError naming it, instead of being read whole into memory."""

    def __init__(self, inner: io.TextIOWrapper, label: str):
        self._inner, self._label, self._lines = inner, label, 0

    def readable(self):
        return True

    def read(self, size=-1):
        while True:
            text = self._inner.read(size)
            if "\x00" not in text:
                return text
            text = text.replace("\x00", "")
            if text or size is None or size < 0:
                return text

    def readline(self, size=-1):
        while True:
            line = self._line(size)
            if "\x00" not in line:
                return line
            line = line.replace("\x00", "")
            if line:
                return line

    def _line(self, size) -> str:
        if size is not None and 0 <= size <= MAX_LINE_CHARS:
            return self._inner.readline(size)
        line = self._inner.readline(MAX_LINE_CHARS + 1)
        self._lines += 1
        if len(line) > MAX_LINE_CHARS and not line.endswith(("\n", "\r")):
            raise ItemError(
                f"{self._label} line {self._lines} is longer than {human_size(MAX_LINE_CHARS)} without a line "
                "break, so the file is not read on: it is not a file the hub can read. The records before that "
                "line were imported.",
                external_id=f"{self._label}#{self._lines}",
            )
        return line

    def close(self):
        if not self.closed:
            self._inner.close()
        super().close()


def text_stream(stream, encoding: str | None = None, label: str = "") -> io.TextIOBase:
    """A text stream of a binary one, its encoding found by sniff_encoding unless given. Odd bytes
    never stop a whole file (they are read as Windows-1252, or replaced); NULs are dropped; csv wants
    newline="". `label` names the file in errors (a Counting stream's own label by default)."""
    label = label or getattr(stream, "label", "") or "The file"
    if not hasattr(stream, "peek"):
        stream = io.BufferedReader(stream)
    if encoding is None:
        encoding = sniff_encoding(stream.peek(4096)[:4096])
    errors = UTF8_ELSE_CP1252 if encoding.replace("_", "-").lower() in ("utf-8", "utf-8-sig", "utf8") else "replace"
    return _Text(io.TextIOWrapper(stream, encoding=encoding, errors=errors, newline=""), label)


class Columns:
    """A CSV header mapped to canonical names through aliases ({"amount": ["Amount", "Total"]}),
    compared without case, spaces or punctuation, so "Order Date", "order_date" and "OrderDate"
    are one column."""

    def __init__(self, header: list[str], aliases: dict[str, list[str]], label: str, required=()):
        normal = [_normal(h) for h in header]
        self.header = header
        self.index: dict[str, int] = {}
        for canonical, names in aliases.items():
            for alias in [canonical, *names]:
                if _normal(alias) in normal:
                    self.index[canonical] = normal.index(_normal(alias))
                    break
        missing = [name for name in required if name not in self.index]
        if missing:
            wanted = ", ".join(aliases.get(m, [m])[0] for m in missing)
            raise ConfigError(
                f"{label} has no {wanted} column; its columns are: {', '.join(header)[:300]}.",
                remediation="Upload the file exactly as the service exported it.",
            )
        self.extra = [h for i, h in enumerate(header) if i not in self.index.values() and h]

    def row(self, values: list[str], label: str, line: int, needed=()) -> dict:
        """The row as {canonical: value, ...extra columns by their header}; ItemError naming the file
        and line when the row is cut short of a known column (or lacks a needed one)."""
        short = sorted((i, name) for name, i in self.index.items() if i >= len(values))
        if short and (len(values) < len(self.header) or {name for _, name in short} & set(needed)):
            missing = ", ".join(self.header[i] for i, _ in short[:3])
            if len(short) > 3:
                missing += f" and {len(short) - 3} more"
            raise ItemError(
                f"{label} line {line}: the row has {len(values)} columns, the header {len(self.header)} "
                f"(no {missing}).",
                external_id=f"{label}#{line}",
            )
        row = {name: values[i].strip() for name, i in self.index.items() if i < len(values)}
        for i, name in enumerate(self.header):
            if name and i < len(values) and i not in self.index.values() and values[i].strip():
                row.setdefault(name, values[i].strip())
        return row


def delimiter_of(header: str) -> str:
    """The delimiter of a CSV from its header line: commas, or the semicolons that Excel writes where
    the decimal separator is a comma, or the tabs of its "Unicode text" (outside quotes)."""
    unquoted = re.sub(r'"[^"]*"', "", header)
    counts = {delimiter: unquoted.count(delimiter) for delimiter in (",", ";", "\t")}
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def csv_rows(stream, label: str, aliases: dict, *, required=(), needed=()) -> Iterator[tuple[int, dict | ItemError]]:
    """(line, row or ItemError) of a CSV stream, the header mapped through Columns."""
    text = text_stream(stream, label=label)
    first = text.readline()
    reader = csv.reader(itertools.chain([first], text), delimiter=delimiter_of(first))
    header = next(reader, [])
    if not any(name.strip() for name in header):  # nothing, or a blank first line (a lone BOM)
        raise ConfigError(f"{label} is empty.", remediation="Upload the file again.")
    columns = Columns(header, aliases, label, required=required)
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line = reader.line_num
            yield line, ItemError(f"{label} line {line}: {exc}.", external_id=f"{label}#{line}")
            continue
        if not any(v.strip() for v in values):
            continue
        try:
            yield reader.line_num, columns.row(values, label, reader.line_num, needed=needed)
        except ItemError as exc:
            yield reader.line_num, exc


# -- ids and progress -------------------------------------------------------------------------------
def content_id(prefix: str, *parts) -> str:
    """An external id from a record's content, for sources without ids of their own."""
    encoded = "\x1f".join("" if part is None else str(part) for part in parts)
    return f"{prefix}:{hashlib.sha256(encoded.encode('utf-8', 'surrogatepass')).hexdigest()[:32]}"


class Occurrences:
    """The nth identical row of a file (two equal coffees on one day are two transactions): the
    count is part of the content id, so re-importing the file, or a newer one holding the same rows
    in the same order, gives the same ids."""

    def __init__(self):
        self._seen: dict[str, int] = {}

    def next(self, key: str) -> int:
        self._seen[key] = self._seen.get(key, 0) + 1
        return self._seen[key]


def estimate_total(items_so_far: int, bytes_read: int, bytes_total: int) -> int | None:
    """How many items the whole upload holds, extrapolated from the bytes read so far."""
    if bytes_read <= 0 or items_so_far <= 0:
        return None
    return max(items_so_far, round(items_so_far * bytes_total / bytes_read))


def batch_size() -> int:
    return max(1, min(getattr(settings, "SYNC_BATCH_SIZE", 500), 500))


class Notice(str):
    """What parse() yields for the user to know that is not one unreadable record (the job ends
    partial with it): e.g. dates in a format that was guessed or left out."""


# -- the import loop ---------------------------------------------------------------------------------
def stream_batches(files: list[Member], parse, cursor, *, heartbeat=lambda: None, first_errors=(), weigh=None):
    """_stream_batches with each zip of the upload opened once for the whole import (parse may
    open other members, such as sidecars, or read heads). The zips are in use only while the import
    runs, not while the caller holds a batch, so nothing leaks into other code on this thread."""
    zips: dict[str, zipfile.ZipFile] = {}
    inner = _stream_batches(files, parse, cursor, heartbeat=heartbeat, first_errors=first_errors, weigh=weigh)
    try:
        while True:
            with _using(zips):
                try:
                    batch = next(inner)
                except StopIteration:
                    return
            yield batch
    finally:
        with _using(zips):
            inner.close()
        for archive in zips.values():
            archive.close()


def _stream_batches(files: list[Member], parse, cursor, *, heartbeat=lambda: None, first_errors=(), weigh=None):
    """Batches of what parse(member, stream) yields, as (entry index, raw item | ItemError | Notice
    | None for an entry left out), indices rising within a member. parse always reads a member from its
    start (so it can rebuild state such as a highlight's earlier versions); entries before the
    cursor {"file": i, "index": n} are read again but not yielded. Each batch's cursor is the
    first entry it does not hold, so a killed import resumes there. A batch holds batch_size()
    items, or fewer when weigh(raw item) says some are heavy (a day of health samples weighs as
    much as many small records): memory stays bounded whatever the items."""
    resume = cursor or {}
    start_file, start_index = resume.get("file", 0), resume.get("index", 0)
    size = batch_size()
    bytes_total = sum(m.size for m in files) or 1
    items, errors, notices = [], ([] if cursor else list(first_errors)), []
    weight = 0  # of the items in the batch being built
    position = {"file": start_file, "index": start_index}
    parsed = bytes_read = 0

    def total(stream_count: int = 0):
        return estimate_total(parsed, bytes_read + stream_count, bytes_total)

    for file_index, member in enumerate(files):
        if file_index < start_file:
            continue
        skip = start_index if file_index == start_file else 0
        if member.size == 0:
            if not skip:
                message = f"{member.label} is empty (0 bytes); nothing was read from it."
                errors.append(ItemError(message, external_id=member.label))
            position = {"file": file_index + 1, "index": 0}
            continue
        try:
            stream = Counting(member.open(), member.label)
        except ItemError as exc:
            errors.append(exc)
            continue
        try:
            for index, thing in parse(member, stream):
                if isinstance(thing, (dict, ItemError)):
                    parsed += 1  # progress counts what is stored or reported, like the engine
                if index < skip:
                    continue
                # A batch closes only between entries, never between two things of one entry (a
                # day's three activity rings): its cursor, "resume at this entry", loses nothing.
                same_entry = position == {"file": file_index, "index": index + 1}
                if weight + len(errors) >= size and not same_entry:
                    cut = {"file": file_index, "index": index}
                    yield Batch(items=items, errors=errors, notices=notices, cursor=cut, total=total(stream.count))
                    items, errors, notices, weight = [], [], [], 0
                    heartbeat()
                position = {"file": file_index, "index": index + 1}
                if isinstance(thing, Notice):
                    if thing not in notices:
                        notices.append(thing)
                elif isinstance(thing, ItemError):
                    errors.append(thing)
                elif thing is not None:
                    items.append(thing)
                    weight += weigh(thing) if weigh else 1
        except TruncatedFile as exc:
            errors.append(exc.item_error())
        except ItemError as exc:  # the member as a whole could not be read on
            errors.append(exc)
        except ConfigError as exc:
            if len(files) == 1:
                raise  # the upload is this file: the job fails with its reason
            # One file of several is not what it should be (a CSV without its columns): named, and
            # the other files are imported.
            errors.append(ItemError(" ".join(filter(None, [exc.message, exc.remediation])), external_id=member.label))
        finally:
            bytes_read += stream.count
            stream.close()
        position = {"file": file_index + 1, "index": 0}
    yield Batch(items=items, errors=errors, notices=notices, cursor=position, total=total())


def upload_key(files: list[Member]) -> str:
    """What identifies an upload for its cursor: its files' names and sizes."""
    return content_id("upload", *(f"{m.archive}|{m.name}|{m.size}" for m in files))


class ArchiveConnector(Connector):
    """A connector that imports uploaded export files. Subclasses set EXPORT (a key of EXPORTS) and
    implement wanted(member) (is this file part of the export?), parse(member, stream) and
    transform(raw)."""

    EXPORT = ""
    # How parse() numbers its entries. A connector that changes the numbering bumps it: a cursor
    # written under another numbering (an import interrupted across a deploy) then starts its
    # upload again instead of skipping entries by the wrong count (records are keyed by their ids
    # or content, so what was stored before is merged, never stored twice).
    ENTRIES_VERSION = ""

    @classmethod
    def wanted(cls, member: Member) -> bool:
        raise NotImplementedError

    @classmethod
    def describe(cls) -> str:
        return EXPORTS[cls.EXPORT][0].upper() + EXPORTS[cls.EXPORT][1:]

    @classmethod
    def sniff(cls, paths: list[str]) -> str:
        """A short description of the upload, or ConfigError naming the file that is not this
        export (the upload page calls it before any import starts)."""
        _, detail = sniff(paths, cls.EXPORT, cls.wanted)
        name = EXPORTS[cls.EXPORT].split(" ", 1)[1]
        return f"{name[0].upper()}{name[1:]}, {detail}"

    def test_connection(self) -> str:
        return "Uploaded files (nothing to connect to)"

    def files(self, paths: list[str]) -> tuple[list[Member], list[ItemError]]:
        found, refused = members(paths)
        with shared_zips():
            mine = [m for m in found if self.wanted(m)]
        if not mine:
            sniff(paths, self.EXPORT, self.wanted)  # raises with the reason
        return mine, refused

    def list_changes(self, cursor):
        paths = self.ctx.options.get("archive_paths") or []
        if not paths:
            yield Batch(
                cursor=cursor,
                notices=[f"Nothing was imported: upload {EXPORTS[self.EXPORT]} on the integration's page."],
            )
            return
        files, refused = self.files(paths)
        # A cursor is a position in one upload: one left by another upload (an incremental job
        # started from the integration's last cursor) must not skip the start of this one.
        upload = upload_key(files) + (f"#{self.ENTRIES_VERSION}" if self.ENTRIES_VERSION else "")
        if not isinstance(cursor, dict) or cursor.get("upload") != upload:
            cursor = None
        batches = stream_batches(
            files, self.parse, cursor, heartbeat=self.ctx.heartbeat, first_errors=refused, weigh=self.weigh
        )
        for batch in batches:
            batch.cursor = {**batch.cursor, "upload": upload}
            yield batch

    def parse(self, member: Member, stream):
        raise NotImplementedError

    weigh = None  # or weigh(raw item) -> int: how many ordinary records one raw item counts as in a batch
