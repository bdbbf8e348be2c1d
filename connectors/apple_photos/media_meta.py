"""What a photo or video file says about itself, read from its headers without decoding pixels:
capture time, camera, GPS and dimensions. Used when an export has no sidecar (icloudpd, Photos'
own "Export Unmodified Originals"), and to fill what a sidecar leaves out.

- JPEG: the EXIF block of the APP1 segment ("Exif\\0\\0" + a TIFF structure), dimensions from the
  frame header (media_match.image_size). PNG and GIF: dimensions only.
- HEIC/HEIF (ISO/IEC 23008-12, an ISO-BMFF file): dimensions from the 'ispe' properties in
  meta/iprp/ipco (the largest one: a grid image's tiles and the thumbnail have their own), EXIF
  from the item whose type is 'Exif' (meta/iinf), located through meta/iloc; its data starts with
  a 4-byte offset to the TIFF header.
- MOV/MP4 (ISO-BMFF too): capture time from moov/mvhd (seconds since 1904-01-01 UTC), dimensions
  from the first video track's tkhd (16.16 fixed point).
EXIF tags (CIPA DC-008): IFD0 Make 0x010F, Model 0x0110, DateTime 0x0132, ExifIFD 0x8769
(DateTimeOriginal 0x9003, DateTimeDigitized 0x9004, OffsetTime 0x9010, OffsetTimeOriginal 0x9011,
OffsetTimeDigitized 0x9012, PixelXDimension 0xA002, PixelYDimension 0xA003), GPS IFD 0x8825
(GPSLatitudeRef 1, GPSLatitude 2, GPSLongitudeRef 3, GPSLongitude 4, GPSTimeStamp 7: the fix's UTC
hour, minute and second, GPSDateStamp 29: its UTC date "YYYY:MM:DD").

A camera time without an offset is the camera clock's local time; with a GPS fix beside it, the
difference to the fix's UTC time, rounded to 15 minutes, is the zone the clock was set to
(exiftool's -geotime reasoning): a photo taken on a trip is placed when it was taken, not in the
zone the person lives in.

Every reader is defensive: a damaged header yields less metadata, never an exception.
"""

from __future__ import annotations

import datetime
import re
import struct

from connectors.google import media_match

HEAD_LIMIT = 1024 * 1024  # EXIF sits in the first segments of a JPEG
BOX_LIMIT = 4 * 1024 * 1024  # the meta box of a HEIC is a few KB; more means a damaged file
EXIF_LIMIT = 512 * 1024
TIFF_TYPES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1, 9: 4, 10: 8}  # type -> bytes per value
EXIF_DATE = re.compile(
    r"^\s*(\d{4})[:-](\d{2})[:-](\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?)?\s*(Z|[+-]\d{2}:?\d{2})?\s*$"
)
MAC_EPOCH = datetime.datetime(1904, 1, 1, tzinfo=datetime.UTC)


def parse_exif_date(value, offset: str = "") -> datetime.datetime | None:
    """ "2023:05:01 10:20:30" (EXIF), "2023-05-01T10:20:30+02:00" (XMP) or a date alone; the
    offset, when the value has none, from OffsetTimeOriginal. Naive when neither says: the camera's
    clock showed local time, which only the person's zone can place (connector.in_zone)."""
    match = EXIF_DATE.match(str(value or ""))
    if not match:
        return None
    year, month, day, hour, minute, second, zone = match.groups()
    tz = _offset(zone or offset)
    try:
        moment = datetime.datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), tzinfo=tz
        )
    except ValueError:  # "0000:00:00 00:00:00" is how cameras without a clock say "unknown"
        return None
    return moment if clock_was_set(moment) else None


def _offset(value) -> datetime.tzinfo | None:
    """ "+05:30", "+0530" or "Z" as a zone; None for what does not parse ("   :  " from a camera
    whose clock has no zone) or is no zone's ("+99:99")."""
    text = str(value or "").strip()
    if text == "Z":
        return datetime.UTC
    found = re.match(r"^([+-])(\d{2}):?(\d{2})$", text)
    if not found:
        return None
    hours, minutes = int(found.group(2)), int(found.group(3))
    if hours * 60 + minutes > 14 * 60 or minutes >= 60:
        return None
    return datetime.timezone((-1 if found.group(1) == "-" else 1) * datetime.timedelta(hours=hours, minutes=minutes))


UNIX_EPOCH = datetime.datetime(1970, 1, 1)
FIRST_PHOTOGRAPH = 1826  # earlier is a null date (.NET's DateTime.MinValue writes the year 1)
FUTURE_SLACK = datetime.timedelta(days=2)  # a time "tomorrow" is a zone away, not a wrong clock


def clock_was_set(moment: datetime.datetime) -> bool:
    """Whether a time a device wrote can be when the photo was taken: not the epoch a reset clock
    starts from (1970-01-01 00:00:00), nor a null date from before photography, nor later than now.
    (A scan may well say 1950.)"""
    if moment.replace(tzinfo=None) == UNIX_EPOCH or moment.year < FIRST_PHOTOGRAPH:
        return False
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=datetime.UTC)
    return aware <= datetime.datetime.now(datetime.UTC) + FUTURE_SLACK


def on_globe(lat, lon) -> bool:
    """A position to keep: both known, on the globe, and not (0, 0), which is what devices without
    a fix write."""
    return lat is not None and lon is not None and bool(lat or lon) and -90 <= lat <= 90 and -180 <= lon <= 180


# -- EXIF (TIFF structure) ------------------------------------------------------------------------
def _ifd(data: bytes, offset: int, order: str) -> dict[int, object]:
    values: dict[int, object] = {}
    if offset <= 0 or offset + 2 > len(data):
        return values
    (count,) = struct.unpack_from(order + "H", data, offset)
    for index in range(min(count, 512)):
        entry = offset + 2 + index * 12
        if entry + 12 > len(data):
            break
        tag, kind, number = struct.unpack_from(order + "HHI", data, entry)
        size = TIFF_TYPES.get(kind)
        if size is None or number > 4096:
            continue
        total = size * number
        start = entry + 8 if total <= 4 else struct.unpack_from(order + "I", data, entry + 8)[0]
        raw = data[start : start + total]
        if len(raw) < total:
            continue
        if kind == 2:
            values[tag] = raw.split(b"\x00", 1)[0].decode("utf-8", "replace").strip()
        elif kind in (5, 10):
            fmt = order + ("II" if kind == 5 else "ii") * number
            parts = struct.unpack(fmt, raw)
            # A zero denominator is how a camera without a GPS fix writes "unknown" (0/0).
            values[tag] = [parts[i] / parts[i + 1] if parts[i + 1] else None for i in range(0, len(parts), 2)]
        elif kind in (3, 4, 9):
            fmt = order + {3: "H", 4: "I", 9: "i"}[kind] * number
            unpacked = struct.unpack(fmt, raw)
            values[tag] = unpacked[0] if number == 1 else list(unpacked)
        else:
            values[tag] = raw
    return values


def _dms(value, ref, hemispheres: str) -> float | None:
    """A signed degree from GPS rationals (degrees, minutes, seconds; degrees and decimal minutes;
    decimal degrees alone) and their reference. None when the degrees are unknown (0/0) or the
    reference is missing or not one of `hemispheres`: without it the hemisphere is a guess, and
    exiftool gives no position either."""
    ref = str(ref or "").strip().upper()
    if not isinstance(value, list) or not value or value[0] is None or len(ref) != 1 or ref not in hemispheres:
        return None
    parts = [part or 0.0 for part in [*value, 0.0, 0.0][:3]]
    degrees = parts[0] + parts[1] / 60 + parts[2] / 3600
    return -degrees if ref in "SW" else degrees


ZONE_STEP = datetime.timedelta(minutes=15)
WIDEST_ZONE = datetime.timedelta(hours=14)  # UTC+14 (Kiribati); the furthest west is UTC-12


def _gps_time(gps: dict) -> datetime.datetime | None:
    """The UTC time of the GPS fix (GPSDateStamp and GPSTimeStamp), None when either is missing."""
    date = re.match(r"^\s*(\d{4}):(\d{2}):(\d{2})\s*$", str(gps.get(29) or ""))
    clock = gps.get(7)
    if not date or not isinstance(clock, list) or len(clock) != 3 or None in clock:
        return None
    hours, minutes, seconds = clock
    try:
        day = datetime.datetime(*(int(part) for part in date.groups()), tzinfo=datetime.UTC)
        return day + datetime.timedelta(hours=hours, minutes=minutes, seconds=seconds)
    except (ValueError, OverflowError):
        return None


def _zoned_by_gps(taken: datetime.datetime, gps: dict) -> datetime.datetime:
    """A zone-less camera time with the offset its GPS fix shows, rounded to 15 minutes; as it was
    when it has an offset already, has no fix, or the two are further apart than any zone."""
    fix = _gps_time(gps) if taken.tzinfo is None else None
    if fix is None:
        return taken
    offset = ZONE_STEP * round((taken.replace(tzinfo=datetime.UTC) - fix) / ZONE_STEP)
    if not -datetime.timedelta(hours=12) <= offset <= WIDEST_ZONE:
        return taken  # a stale fix, or a clock far off: the person's zone places it instead
    return taken.replace(tzinfo=datetime.timezone(offset))


def parse_tiff(data: bytes) -> dict:
    """{"taken": datetime, "camera_make", "camera_model", "geo", "width", "height"} from an EXIF
    TIFF structure (keys present only when found)."""
    if len(data) < 8 or data[:2] not in (b"II", b"MM"):
        return {}
    order = "<" if data[:2] == b"II" else ">"
    try:
        if struct.unpack_from(order + "H", data, 2)[0] != 42:
            return {}
        ifd0 = _ifd(data, struct.unpack_from(order + "I", data, 4)[0], order)
        exif = _ifd(data, ifd0.get(0x8769, 0) if isinstance(ifd0.get(0x8769), int) else 0, order)
        gps = _ifd(data, ifd0.get(0x8825, 0) if isinstance(ifd0.get(0x8825), int) else 0, order)
    except struct.error:
        return {}
    found: dict = {}
    if isinstance(ifd0.get(0x010F), str) and ifd0[0x010F]:
        found["camera_make"] = ifd0[0x010F]
    if isinstance(ifd0.get(0x0110), str) and ifd0[0x0110]:
        found["camera_model"] = ifd0[0x0110]
    # DateTimeOriginal, else DateTimeDigitized (a scan), else IFD0's DateTime (when the file was
    # written: older software sets only that), each with its own offset tag, else OffsetTime (the
    # camera clock's zone: some cameras write only that one).
    for ifd, tag, offset_tag in ((exif, 0x9003, 0x9011), (exif, 0x9004, 0x9012), (ifd0, 0x0132, 0x9010)):
        offsets = [value for value in (exif.get(offset_tag), exif.get(0x9010)) if isinstance(value, str)]
        taken = parse_exif_date(ifd.get(tag), next((o for o in offsets if _offset(o) is not None), ""))
        if taken:
            # (Not the file's DateTime: software that edits a photo writes it then, hours or days
            # after the GPS fix.)
            found["taken"] = _zoned_by_gps(taken, gps) if tag != 0x0132 else taken
            break
    lat, lon = _dms(gps.get(2), gps.get(1), "NS"), _dms(gps.get(4), gps.get(3), "EW")
    if on_globe(lat, lon):
        found["geo"] = {"lat": round(lat, 7), "lon": round(lon, 7)}
    if isinstance(exif.get(0xA002), int) and isinstance(exif.get(0xA003), int):
        found["width"], found["height"] = exif[0xA002], exif[0xA003]
    return found


# -- JPEG ---------------------------------------------------------------------------------------------
def _jpeg_exif(handle) -> bytes:
    handle.seek(2)
    while handle.tell() < HEAD_LIMIT:
        marker = handle.read(2)
        if len(marker) < 2 or marker[0] != 0xFF or marker[1] in (0xD9, 0xDA):
            return b""
        length = handle.read(2)
        if len(length) < 2:
            return b""
        size = struct.unpack(">H", length)[0]
        if size < 2:
            return b""
        if marker[1] == 0xE1:
            segment = handle.read(size - 2)
            if segment.startswith(b"Exif\x00\x00"):
                return segment[6:]
        else:
            handle.seek(size - 2, 1)
    return b""


# -- ISO-BMFF (HEIC, MOV, MP4) ---------------------------------------------------------------------
def _boxes(data: bytes, start: int = 0, end: int | None = None):
    """(type, payload start, payload end) of the boxes in data[start:end]."""
    end = len(data) if end is None else end
    position = start
    while position + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, position)
        header = 8
        if size == 1 and position + 16 <= end:
            size, header = struct.unpack_from(">Q", data, position + 8)[0], 16
        elif size == 0:
            size = end - position
        if size < header or position + size > end:
            return
        yield kind.decode("latin-1"), position + header, position + size
        position += size


def _top_level(handle):
    """(type, offset, size) of the top-level boxes of a seekable file."""
    handle.seek(0, 2)
    file_end = handle.tell()
    position = 0
    while position + 8 <= file_end:
        handle.seek(position)
        head = handle.read(16)
        size, kind = struct.unpack_from(">I4s", head)
        header = 8
        if size == 1 and len(head) == 16:
            size, header = struct.unpack_from(">Q", head, 8)[0], 16
        elif size == 0:
            size = file_end - position
        if size < header:
            return
        yield kind.decode("latin-1"), position + header, min(size - header, file_end - position - header)
        position += size


def _read_box(handle, offset: int, size: int) -> bytes:
    if size > BOX_LIMIT:
        return b""
    handle.seek(offset)
    return handle.read(size)


def _children(data: bytes, start: int, end: int) -> dict[str, tuple[int, int]]:
    found: dict[str, tuple[int, int]] = {}
    for kind, begin, finish in _boxes(data, start, end):
        found.setdefault(kind, (begin, finish))
    return found


def _heif(handle, meta: bytes) -> dict:
    found: dict = {}
    boxes = _children(meta, 4, len(meta))  # meta is a full box: version and flags first
    exif_id = _exif_item(meta, boxes.get("iinf"))
    if exif_id is not None and "iloc" in boxes:
        extent = _item_extent(meta, *boxes["iloc"], exif_id)
        if extent and extent[1] <= EXIF_LIMIT:
            handle.seek(extent[0])
            item = handle.read(extent[1])
            if len(item) >= 4:
                skip = struct.unpack_from(">I", item)[0]  # the TIFF header's offset in the item
                found.update(parse_tiff(item[4 + skip :]))
    ipco = _children(meta, *boxes["iprp"]).get("ipco") if "iprp" in boxes else None
    if ipco:  # the coded size beats EXIF's PixelXDimension
        sizes = [
            struct.unpack_from(">II", meta, begin + 4)
            for kind, begin, finish in _boxes(meta, *ipco)
            if kind == "ispe" and finish - begin >= 12
        ]
        if sizes:
            found["width"], found["height"] = max(sizes, key=lambda wh: wh[0] * wh[1])
    return found


def _exif_item(meta: bytes, iinf) -> int | None:
    if not iinf:
        return None
    begin, end = iinf
    version = meta[begin]
    first = begin + 4 + (2 if version == 0 else 4)
    for kind, start, finish in _boxes(meta, first, end):
        if kind != "infe" or finish - start < 12:
            continue
        infe_version = meta[start]
        if infe_version == 2:
            item_id, item_type = struct.unpack_from(">H", meta, start + 4)[0], meta[start + 8 : start + 12]
        elif infe_version == 3:
            item_id, item_type = struct.unpack_from(">I", meta, start + 4)[0], meta[start + 10 : start + 14]
        else:
            continue
        if item_type == b"Exif":
            return item_id
    return None


def _uint(data: bytes, position: int, size: int) -> int:
    return int.from_bytes(data[position : position + size], "big") if size else 0


def _item_extent(meta: bytes, begin: int, end: int, wanted: int) -> tuple[int, int] | None:
    """(file offset, length) of an item's first extent, from the iloc box."""
    version = meta[begin]
    offset_size, length_size = meta[begin + 4] >> 4, meta[begin + 4] & 15
    base_size, index_size = meta[begin + 5] >> 4, (meta[begin + 5] & 15) if version in (1, 2) else 0
    position = begin + 6
    id_size = 4 if version == 2 else 2
    count = _uint(meta, position, id_size)
    position += id_size
    for _ in range(min(count, 4096)):
        if position + id_size > end:
            return None
        item_id = _uint(meta, position, id_size)
        position += id_size
        method = 0
        if version in (1, 2):
            method = _uint(meta, position, 2) & 15
            position += 2
        position += 2  # data_reference_index
        base = _uint(meta, position, base_size)
        position += base_size
        extents = _uint(meta, position, 2)
        position += 2
        first = None
        for _ in range(extents):
            position += index_size
            extent_offset = _uint(meta, position, offset_size)
            position += offset_size
            extent_length = _uint(meta, position, length_size)
            position += length_size
            if first is None:
                first = (base + extent_offset, extent_length)
        if item_id == wanted:
            return first if method == 0 else None  # items inside 'idat' (method 1) are not read
    return None


def _movie(moov: bytes) -> dict:
    found: dict = {}
    boxes = list(_boxes(moov))
    for kind, begin, end in boxes:
        if kind == "mvhd" and end - begin >= 20:
            seconds = struct.unpack_from(">Q" if moov[begin] == 1 else ">I", moov, begin + 4)[0]
            taken = MAC_EPOCH + datetime.timedelta(seconds=seconds)
            # 0 means unknown; a camera whose clock was never set counts from 1904 (or 1970).
            if taken.year >= 1970 and clock_was_set(taken):
                found["taken"] = taken
        elif kind == "trak" and "width" not in found:
            tkhd = _children(moov, begin, end).get("tkhd")
            if tkhd and tkhd[1] - tkhd[0] >= 84:
                at = tkhd[1] - 8
                width, height = struct.unpack_from(">II", moov, at)
                if width >> 16 and height >> 16:
                    found["width"], found["height"] = width >> 16, height >> 16
    return found


def read(handle) -> dict:
    """What the file says about itself (see the module docstring); {} for an unknown format."""
    try:
        return _read(handle)
    except (struct.error, OSError, IndexError, ValueError, OverflowError):
        return {}


def _read(handle) -> dict:
    handle.seek(0)
    head = handle.read(12)
    found: dict = {}
    if head[:2] == b"\xff\xd8":
        found.update(parse_tiff(_jpeg_exif(handle)))
    elif head[4:8] == b"ftyp":
        for kind, offset, size in _top_level(handle):
            if kind == "meta":
                found.update(_heif(handle, _read_box(handle, offset, size)))
            elif kind == "moov":
                found.update(_movie(_read_box(handle, offset, size)))
    size = media_match.image_size(handle)  # the frame header beats EXIF's PixelXDimension
    if size:
        found["width"], found["height"] = size
    return found
