"""The sidecars osxphotos writes next to each exported file (`osxphotos export --sidecar xmp` or
`--sidecar json`), read into one shape: {"taken", "geo", "camera_make", "camera_model", "width",
"height", "keywords", "people", "albums", "title", "description"} (keys present when known).

Names: "IMG_0001.HEIC.xmp" / "IMG_0001.HEIC.json", or without the photo's extension with
`--sidecar-drop-ext` ("IMG_0001.xmp"). https://github.com/RhetTbull/osxphotos (README, "export";
templates/xmp_sidecar.mako):
- XMP: exif:DateTimeOriginal, photoshop:DateCreated or xmp:CreateDate; exif:GPSLatitude and
  exif:GPSLongitude as "DD,MM.mmmmN" (XMP's GPSCoordinate form; "DD,MM,SSN" and decimals are
  read too); tiff:Make and tiff:Model; dc:subject holds keywords *and* person names ("as Photos
  does"), so people are taken out of it; Iptc4xmpExt:PersonInImage, MWG face regions (mwg-rs:Name)
  and Microsoft ones (MPReg:PersonDisplayName) name people; digiKam:TagsList keywords;
  lr:hierarchicalSubject albums ("Trips|Italy" is the album "Italy" in the folder "Trips").
  Values are elements (with rdf:Bag/Seq/Alt lists) or attributes of rdf:Description.
- JSON: exiftool's -json form, a list of one object whose keys carry the group ("EXIF:Make",
  "XMP:PersonInImage", "IPTC:Keywords"); `--sidecar exiftool` writes the same without groups.
The person osxphotos writes for an unnamed face ("_UNKNOWN_") is not a person.
"""

from __future__ import annotations

import contextlib
import json
import re

import defusedxml.ElementTree as SafeTree
from defusedxml import DefusedXmlException

from connectors.apple_photos.media_meta import on_globe, parse_exif_date

RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
NS = {
    "dc": "http://purl.org/dc/elements/1.1/",
    "exif": "http://ns.adobe.com/exif/1.0/",
    "exifEX": "http://cipa.jp/exif/1.0/",
    "tiff": "http://ns.adobe.com/tiff/1.0/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "photoshop": "http://ns.adobe.com/photoshop/1.0/",
    "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
    "lr": "http://ns.adobe.com/lightroom/1.0/",
    "digiKam": "http://www.digikam.org/ns/1.0/",
    "mwg-rs": "http://www.metadataworkinggroup.com/schemas/regions/",
    "MPReg": "http://ns.microsoft.com/photo/1.2/t/Region#",
}
UNKNOWN_PERSON = "_UNKNOWN_"
SIDECAR_LIMIT = 4 * 1024 * 1024  # osxphotos sidecars are a few KB
COORDINATE = re.compile(r"^\s*([+-]?\d+(?:\.\d+)?)(?:[,\s]+(\d+(?:\.\d+)?))?(?:[,\s]+(\d+(?:\.\d+)?))?\s*([NSEW])?\s*$")
EXIFTOOL_COORDINATE = re.compile(
    r"^\s*(\d+(?:\.\d+)?)\s*deg\s*(\d+(?:\.\d+)?)'\s*(\d+(?:\.\d+)?)\"?\s*([NSEW])?\s*$", re.I
)


class SidecarError(ValueError):
    """The sidecar is not the XML or JSON its name says (the reason is a plain phrase)."""


def coordinate(value, ref: str = "") -> float | None:
    """-33.5, "33,30.5S" (XMP), "33,30,30S", "33 deg 30' 30.00\" S" (exiftool) -> a signed degree."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        degrees = float(value)
        direction = ref
    else:
        text = str(value or "")
        match = COORDINATE.match(text) or EXIFTOOL_COORDINATE.match(text)
        if not match:
            return None
        whole, minutes, seconds, direction = match.groups()
        degrees = abs(float(whole)) + float(minutes or 0) / 60 + float(seconds or 0) / 3600
        if whole.startswith("-"):
            degrees = -degrees
        direction = direction or ref
    if str(direction or "").strip().upper()[:1] in ("S", "W"):
        degrees = -abs(degrees)
    return round(degrees, 7)


def _unique(values) -> list[str]:
    seen, ordered = set(), []
    for value in values:
        text = str(value).strip() if value is not None else ""
        if text and text.casefold() not in seen:
            seen.add(text.casefold())
            ordered.append(text)
    return ordered


class _Lower(dict):
    def get(self, key, default=None):
        return super().get(key.lower(), default)


def _finish(values: dict[str, list], *, lat, lon) -> dict:
    """The common shape from {tag name: [values]} (tag names without namespace or group; case is
    ignored: XMP says "subject" where exiftool says "Subject")."""
    lowered: dict[str, list] = {}
    for name, found_values in values.items():
        lowered.setdefault(name.lower(), []).extend(found_values)
    values = _Lower(lowered)

    def first(*names):
        for name in names:
            for value in values.get(name) or []:
                if value not in (None, ""):
                    return value
        return None

    found: dict = {}
    offset = first("OffsetTimeOriginal") or ""
    # A full time beats a date alone (IPTC:DateCreated is "2020:10:30"; XMP's DateCreated has the time).
    dated = [first(name) for name in ("DateTimeOriginal", "DateCreated", "CreationDate", "CreateDate")]
    dated = [str(value) for value in dated if value]
    for value in [v for v in dated if ":" in v[10:]] + dated:
        taken = parse_exif_date(value, str(offset))
        if taken:
            found["taken"] = taken
            break
    if on_globe(lat, lon):
        found["geo"] = {"lat": lat, "lon": lon}
    for key, name in (("camera_make", "Make"), ("camera_model", "Model"), ("title", "Title")):
        if first(name):
            found[key] = str(first(name))
    description = first("Description", "ImageDescription", "Caption-Abstract")
    if description:
        found["description"] = str(description)
    for key, names in (("width", ("ImageWidth", "ExifImageWidth", "PixelXDimension")),
                       ("height", ("ImageHeight", "ExifImageHeight", "PixelYDimension"))):  # fmt: skip
        with contextlib.suppress(TypeError, ValueError):
            found[key] = int(first(*names))
    people = _unique(
        p for name in ("PersonInImage", "RegionName", "RegionPersonDisplayName")
        for p in values.get(name) or [] if str(p).strip() != UNKNOWN_PERSON
    )  # fmt: skip
    named = {p.casefold() for p in people} | {UNKNOWN_PERSON.casefold()}
    keywords = [
        k for k in _unique(k for name in ("Subject", "Keywords", "TagsList") for k in values.get(name) or [])
        if k.casefold() not in named
    ]  # fmt: skip
    albums = _unique(a.replace("/", "|").split("|")[-1] for a in values.get("HierarchicalSubject") or [])
    found.update(people=people, keywords=keywords, albums=albums)
    return found


# -- XMP ------------------------------------------------------------------------------------------------
RENAMED = {  # region names as exiftool calls them (a bare "Name" is too common a tag to trust)
    f"{{{NS['mwg-rs']}}}Name": "RegionName",
    f"{{{NS['MPReg']}}}PersonDisplayName": "RegionPersonDisplayName",
}


def _local(tag: str) -> str:
    return RENAMED.get(tag) or tag.rsplit("}", 1)[-1]


def parse_xmp(data: bytes) -> dict:
    try:
        root = SafeTree.fromstring(data)
    except (SafeTree.ParseError, DefusedXmlException, ValueError) as exc:
        raise SidecarError(f"it is not valid XML ({_xml_reason(exc)})") from None
    if not any(element.tag == f"{RDF}RDF" for element in root.iter()):
        raise SidecarError("it is XML but not XMP (no rdf:RDF element)")
    values: dict[str, list] = {}
    for element in root.iter():
        tag = element.tag if isinstance(element.tag, str) else ""
        if not tag or tag.startswith(RDF):
            if tag == f"{RDF}Description":
                for key, value in element.attrib.items():
                    if not key.startswith(RDF) and key.startswith("{"):
                        values.setdefault(_local(key), []).append(value)
            continue
        items = [
            li.text for container in element if container.tag in (f"{RDF}Bag", f"{RDF}Seq", f"{RDF}Alt")
            for li in container if li.tag == f"{RDF}li"
        ]  # fmt: skip
        if items:
            values.setdefault(_local(tag), []).extend(items)
        elif len(element) == 0 and (element.text or "").strip():
            values.setdefault(_local(tag), []).append(element.text.strip())
    lat = coordinate((values.get("GPSLatitude") or [None])[0])
    lon = coordinate((values.get("GPSLongitude") or [None])[0])
    return _finish(values, lat=lat, lon=lon)


def _xml_reason(exc) -> str:
    if isinstance(exc, DefusedXmlException):
        return "it declares entities, which are refused"
    position = getattr(exc, "position", None)
    return f"error at line {position[0]}" if position else "unreadable"


# -- JSON -----------------------------------------------------------------------------------------------
def parse_json(data: bytes) -> dict:
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        raise SidecarError(f"it is not valid JSON{f' (error at line {line})' if line else ''}") from None
    if isinstance(document, list) and document and isinstance(document[0], dict):
        document = document[0]
    if not isinstance(document, dict):
        raise SidecarError("it is JSON but not an exiftool sidecar (no object of tags)")
    values: dict[str, list] = {}
    for key, value in document.items():
        name = str(key).rsplit(":", 1)[-1]
        values.setdefault(name, []).extend(value if isinstance(value, list) else [value])

    def one(name):
        return (values.get(name) or [None])[0]

    lat = coordinate(one("GPSLatitude"), str(one("GPSLatitudeRef") or ""))
    lon = coordinate(one("GPSLongitude"), str(one("GPSLongitudeRef") or ""))
    pair = str(one("GPSCoordinates") or "").replace(",", " ").split()  # videos: "Keys:GPSCoordinates": "lat lon"
    if (lat is None or lon is None) and len(pair) >= 2:
        lat, lon = coordinate(pair[0]), coordinate(pair[1])
    return _finish(values, lat=lat, lon=lon)


def parse(name: str, data: bytes) -> dict:
    """The sidecar's metadata by its extension; SidecarError when it cannot be read."""
    if not data.strip():
        raise SidecarError("it is empty")
    return parse_json(data) if name.lower().endswith(".json") else parse_xmp(data)
