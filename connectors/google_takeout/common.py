"""What the Google Takeout activity connectors share: streaming the objects of a big JSON file,
reading Google's time and coordinate notations, telling Takeout's Photos sidecars from data files.

Takeout folder and file names are translated ("Standortverlauf", "Wiedergabeverlauf.json"), so
files are recognised by what they hold, never by their names.
"""

from __future__ import annotations

import datetime
import posixpath
import re

import ijson

from connectors import archives
from connectors.errors import ConfigError, ItemError

JSON_ERRORS = (ijson.JSONError, ijson.IncompleteJSONError, UnicodeDecodeError)
MEDIA_SIDECAR = re.compile(r"\.(jpe?g|png|gif|webp|heic|heif|mp4|mov|m4v|3gp|dng|bmp|tiff?)(\(\d+\))?\.json$", re.I)


def data_file(member: archives.Member, extensions: tuple[str, ...]) -> bool:
    """A non-empty file with one of these extensions that is not a Google Photos sidecar (a Takeout
    of Photos holds thousands: reading each one's head would be slow and pointless)."""
    base = member.basename.lower()
    if not member.size or not base.endswith(extensions):
        return False
    return not (MEDIA_SIDECAR.search(base) or "supplemental-metadata" in base or base == "metadata.json")


def empty_export_file(member: archives.Member, names: set[str], pattern: str = r"$^") -> bool:
    """A 0-byte file named as the export names it in English or German: taken into the import so that
    it is reported as empty (its content cannot say what it is)."""
    base = member.basename.lower()
    return member.size == 0 and (base in names or re.fullmatch(pattern, base) is not None)


def head_text(member: archives.Member, size: int = archives.HEAD_BYTES) -> str:
    return member.head(size).decode("utf-8", "replace").lstrip("\ufeff \r\n\t")


def objects(stream, prefixes: set[str]):
    """(prefix, object) for each JSON value found at one of the ijson prefixes ("locations.item",
    "item"), in file order, one at a time: memory stays bounded by the largest single object."""
    builder, active, depth = None, None, 0
    for prefix, event, value in ijson.parse(stream, use_float=True):
        if builder is None:
            if prefix in prefixes and event in ("start_map", "start_array"):
                builder, active, depth = ijson.ObjectBuilder(), prefix, 0
            elif prefix in prefixes and event not in ("end_map", "end_array", "map_key"):
                yield prefix, value  # a scalar item
                continue
            else:
                continue
        builder.event(event, value)
        if event in ("start_map", "start_array"):
            depth += 1
        elif event in ("end_map", "end_array"):
            depth -= 1
            if depth == 0:
                yield active, builder.value
                builder = None


def malformed(member: archives.Member, record: int, exc: Exception) -> ItemError:
    """The file stops being valid JSON after `record` records: what came before is kept."""
    where = f"after record {record}" if record else "at its start"
    detail = str(exc).split("\n")[0][:120]
    return ItemError(
        f"{member.label} is not valid JSON {where} ({detail}); the records before that point were imported.",
        external_id=member.label,
    )


# -- times ------------------------------------------------------------------------------------------
def parse_time(value) -> datetime.datetime | None:
    """An aware datetime from Google's ISO 8601 strings ("2022-01-05T10:00:00.123Z", "...+01:00",
    nanoseconds too) or epoch milliseconds ("1641376800123"); None when it is neither."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) or (isinstance(value, str) and re.fullmatch(r"\d{10,14}", value.strip())):
        try:
            return datetime.datetime.fromtimestamp(int(value) / 1000, tz=datetime.UTC)
        except (ValueError, OverflowError, OSError):
            return None
    if not isinstance(value, str):
        return None
    text = value.strip()
    # fromisoformat takes at most 6 fraction digits; Google writes 3, 6 or 9.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def iso(moment: datetime.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def id_time(moment: datetime.datetime) -> str:
    """A time as it goes into an external id: UTC, whole seconds (Google's exports of one visit
    differ in milliseconds and offset between the old and the on-device format)."""
    return moment.astimezone(datetime.UTC).replace(microsecond=0).strftime("%Y%m%dT%H%M%SZ")


# -- coordinates ------------------------------------------------------------------------------------
def geo(lat, lon) -> dict | None:
    try:
        lat, lon = float(lat), float(lon)
    except (TypeError, ValueError):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None
    return {"lat": round(lat, 7), "lon": round(lon, 7)}


def geo_e7(obj: dict | None) -> dict | None:
    """{"latitudeE7": 481234567, "longitudeE7": 115678901} (degrees times 10^7)."""
    if not isinstance(obj, dict) or obj.get("latitudeE7") is None or obj.get("longitudeE7") is None:
        return None
    try:
        return geo(int(obj["latitudeE7"]) / 1e7, int(obj["longitudeE7"]) / 1e7)
    except (TypeError, ValueError):
        return None


LATLNG = re.compile(r"^\s*(?:geo:)?\s*(-?\d+(?:\.\d+)?)\s*°?\s*,\s*(-?\d+(?:\.\d+)?)\s*°?\s*$")


def geo_text(value) -> dict | None:
    """ "48.1372°, 11.5755°" (Android Timeline) or "geo:48.1372,11.5755" (iOS Timeline)."""
    if isinstance(value, dict):
        value = value.get("latLng") or value.get("LatLng")
    if not isinstance(value, str):
        return None
    match = LATLNG.match(value)
    return geo(match.group(1), match.group(2)) if match else None


def basename(path: str) -> str:
    return posixpath.basename(path)


class TakeoutArchive(archives.ArchiveConnector):
    """An import of some of a Google Takeout's files. Takeout splits a big export into parts
    ("takeout-...-001.zip", "-002.zip"): any part that holds some of these files is accepted (the
    others may hold the rest), and a part holding none is refused with a message saying so."""

    @classmethod
    def sniff(cls, paths: list[str]) -> str:
        try:
            return super().sniff(paths)
        except ConfigError as exc:
            what = archives.EXPORTS[cls.EXPORT].split(" ", 1)[1].removesuffix(" export")
            for path in paths:
                found, _ = archives.members([path])
                with archives.shared_zips():
                    mine = any(m.size and cls.wanted(m) for m in found)
                if not mine and archives.identify([path]) == "google-takeout":
                    raise ConfigError(
                        f"{posixpath.basename(path)} is a part of a Google Takeout archive that holds no {what} files.",
                        remediation="Upload the parts that hold them and leave this one out, or request a Takeout "
                        "with that data selected.",
                    ) from None
            raise exc from None
