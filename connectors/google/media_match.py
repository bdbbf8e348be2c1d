"""Recognising one photo that reached the hub twice, through the Picker and through a Takeout.

The SHA-256 of the bytes is not enough: a Picker download (baseUrl "=d") is re-encoded by Google
and may lack the location metadata, while Takeout ships the original file, so the same photo has
different bytes on each side. The second key is what both sides report about the photo itself:
- the file name (Picker mediaFile.filename; Takeout sidecar "title", the full original name),
- the capture time to the second, UTC (Picker createTime; Takeout photoTakenTime.timestamp),
- and, when both sides know them, the dimensions (Picker mediaFile.mediaFileMetadata.width and
  height; for Takeout, read from the image header, since sidecars carry none). Compared as an
  unordered pair: a rotated photo reports them swapped.
https://developers.google.com/photos/picker/reference/rest/v1/mediaItems and
https://support.google.com/accounts/answer/3024190 (Takeout sidecars).

The key is kept in the record's version after the hash ("<sha256>;<name digest>|<time>|<WxH>"),
so the next import finds it among the versions already stored, like the hash.
"""

from __future__ import annotations

import datetime
import hashlib
import struct

SEPARATOR = ";"
# JPEG start-of-frame markers (baseline, progressive, lossless...): they carry the dimensions.
JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
JPEG_NO_LENGTH = {0x01, *range(0xD0, 0xD9)}
HEADER_SCAN_LIMIT = 1024 * 1024  # EXIF and thumbnails come first; the frame header follows them


def dimensions(width, height) -> str:
    try:
        w, h = int(width), int(height)
    except (TypeError, ValueError):
        return ""
    if w <= 0 or h <= 0:
        return ""
    return f"{min(w, h)}x{max(w, h)}"


def capture_key(filename: str, taken: datetime.datetime | None, dims: str = "") -> str:
    """ "<name digest>|<time>|<dims>", or "" when the name or the capture time is unknown (then
    there is no second key). The name is hashed so the key fits the version column whatever its
    length."""
    name = (filename or "").strip().casefold()
    if not name or taken is None:
        return ""
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    moment = taken.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{digest}|{moment}|{dims}"


def version(digest: str, key: str) -> str:
    return f"{digest}{SEPARATOR}{key}" if key else digest


def split_version(value: str) -> tuple[str, str]:
    """(sha256, capture key) of a stored version; records stored before the key have only the hash."""
    digest, _, key = (value or "").partition(SEPARATOR)
    return digest, key


class CaptureIndex:
    """Capture keys stored or seen in this run: name|time -> {dimensions: the record that has it}."""

    def __init__(self, keys=()):
        self._dims: dict[str, dict[str, str]] = {}
        for key in keys:
            if isinstance(key, tuple):
                self.add(*key)
            else:
                self.add(key)

    def add(self, key: str, owner: str = ""):
        if key:
            name_time, _, dims = key.rpartition("|")
            self._dims.setdefault(name_time, {}).setdefault(dims, owner)

    def owner(self, key: str) -> str | None:
        """The record (external id) that already holds the same photo: same name and capture time,
        and the same dimensions unless one side does not know them; "" when it came earlier in this
        run without a record yet; None when no photo matches."""
        if not key:
            return None
        name_time, _, dims = key.rpartition("|")
        known = self._dims.get(name_time)
        if known is None:
            return None
        if dims in known:
            return known[dims]
        if not dims:
            return next(iter(known.values()))
        return known.get("")

    def matches(self, key: str) -> bool:
        return self.owner(key) is not None


TEXT_SAMPLE = 512


def text_instead_of_media(handle) -> str:
    """What a file named like a photo or video holds when it is text ("an HTML page...", "JSON",
    "XML", "text"), or "" when it may be media. Every image and video format opens with binary: a
    magic number, a NUL in a length, a byte no UTF-8 text has; text is what a failed download saves
    (the server's error page) or a file someone renamed."""
    handle.seek(0)
    head = handle.read(TEXT_SAMPLE)
    if not head:
        return ""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not only a character cut at the end of the sample
            return ""
        text = head[: exc.start].decode("utf-8")
    if any((ord(c) < 32 and c not in "\t\r\n\f") or c == "\x7f" for c in text):
        return ""
    start = text.lstrip("\ufeff \t\r\n").lower()
    if start.startswith(("<!doctype html", "<html")) or "<html" in start[:300]:
        return "an HTML page, as a download that failed saves"
    if start.startswith(("{", "[")):
        return "JSON"
    return "XML" if start.startswith("<") else "text"


def image_size(handle) -> tuple[int, int] | None:
    """(width, height) from a JPEG, PNG or GIF header (the file is read from its start), or None."""
    handle.seek(0)
    head = handle.read(26)
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        return struct.unpack(">II", head[16:24])
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return struct.unpack("<HH", head[6:10])
    if head[:2] == b"\xff\xd8":
        return _jpeg_size(handle)
    return None


def _jpeg_size(handle) -> tuple[int, int] | None:
    handle.seek(2)
    while handle.tell() < HEADER_SCAN_LIMIT:
        byte = handle.read(1)
        if not byte:
            return None
        if byte != b"\xff":
            continue
        marker = handle.read(1)
        while marker == b"\xff":  # fill bytes
            marker = handle.read(1)
        if not marker:
            return None
        code = marker[0]
        if code in JPEG_NO_LENGTH:
            continue
        if code in (0xD9, 0xDA):  # end of image, start of scan: no frame header before it
            return None
        length = handle.read(2)
        if len(length) < 2:
            return None
        size = struct.unpack(">H", length)[0]
        if size < 2:
            return None  # a corrupt segment length: never seek backwards
        if code in JPEG_SOF:
            frame = handle.read(5)
            if len(frame) < 5:
                return None
            height, width = struct.unpack(">HH", frame[1:5])
            return width, height
        handle.seek(size - 2, 1)
    return None
