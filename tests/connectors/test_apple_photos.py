"""Apple Photos exports (connectors/apple_photos/), imported through the engine from a zip built
here: osxphotos XMP and JSON sidecars, JPEGs with EXIF, a HEIC-like ISO-BMFF file (ispe, Exif
item), an icloudpd dated folder, and the bad inputs (a sidecar that is not XML, a 0-byte file, a
Takeout uploaded here, a zip cut short)."""

from __future__ import annotations

import datetime
import hashlib
import re
import struct
from pathlib import Path

import pytest
from django.core.files.storage import default_storage

from connectors.apple_photos import media_meta, sidecars
from connectors.apple_photos.connector import ApplePhotos
from connectors.errors import ConfigError
from tests.connectors.archive_helpers import import_files, import_killed_after_first_batch_then_resumed, items, zip_of
from tests.connectors.helpers import connect

pytestmark = pytest.mark.usefixtures("catalogue")


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


# -- building files from their headers ------------------------------------------------------------
def _value(kind: int, value) -> bytes:
    if kind == 2:
        return value.encode() + b"\x00"
    if kind == 3:
        return struct.pack(">H", value)
    if kind == 4:
        return struct.pack(">I", value)
    # rationals: a number, or (numerator, denominator) as written
    return b"".join(struct.pack(">II", *(v if isinstance(v, tuple) else (round(v * 100), 100))) for v in value)


def _ifd(entries: list[tuple[int, int, object]], offset: int) -> bytes:
    """A big-endian IFD at `offset` of the TIFF, its longer values right after it."""
    data_at = offset + 2 + 12 * len(entries) + 4
    table, data = struct.pack(">H", len(entries)), b""
    for tag, kind, value in entries:
        raw = _value(kind, value)
        count = len(raw) if kind == 2 else (len(value) if kind == 5 else 1)
        if len(raw) <= 4:
            table += struct.pack(">HHI", tag, kind, count) + raw.ljust(4, b"\x00")
        else:
            table += struct.pack(">HHII", tag, kind, count, data_at + len(data))
            data += raw + (b"\x00" if len(raw) % 2 else b"")
    return table + b"\x00\x00\x00\x00" + data


def tiff(make="", model="", taken="", offset="", lat=None, lon=None) -> bytes:
    exif = [(0x9003, 2, taken)] if taken else []
    if offset:
        exif.append((0x9011, 2, offset))
    gps = []
    if lat is not None:
        gps = [(1, 2, "N" if lat >= 0 else "S"), (2, 5, _dms(lat)), (3, 2, "E" if lon >= 0 else "W"), (4, 5, _dms(lon))]
    ifd0 = [(0x010F, 2, make), (0x0110, 2, model)] if make else []
    ifd0 += [(0x8769, 4, 0), (0x8825, 4, 0)]
    first = _ifd(ifd0, 8)
    exif_at = 8 + len(first)
    exif_ifd = _ifd(exif, exif_at)
    gps_at = exif_at + len(exif_ifd)
    ifd0[-2:] = [(0x8769, 4, exif_at), (0x8825, 4, gps_at)]
    return b"MM\x00\x2a\x00\x00\x00\x08" + _ifd(ifd0, 8) + exif_ifd + _ifd(gps, gps_at)


def _dms(value: float) -> list[float]:
    value = abs(value)
    degrees, minutes = int(value), (abs(value) % 1) * 60
    return [degrees, int(minutes), round((minutes % 1) * 60, 2)]


def jpeg(width: int, height: int, exif: bytes = b"", salt: bytes = b"") -> bytes:
    app1 = b"Exif\x00\x00" + exif
    segments = b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 if exif else b""
    comment = b"\xff\xfe" + struct.pack(">H", len(salt) + 2) + salt if salt else b""
    frame = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + segments + comment + frame + b"\xff\xd9"


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload) + 8) + kind + payload


def full_box(kind: bytes, payload: bytes, version: int = 0) -> bytes:
    return box(kind, bytes([version, 0, 0, 0]) + payload)


def heic(sizes: list[tuple[int, int]], exif: bytes) -> bytes:
    """ftyp, meta (iinf with an Exif item, iloc pointing into mdat, ispe properties), mdat."""
    ftyp = box(b"ftyp", b"heic\x00\x00\x00\x00mif1heic")
    item = struct.pack(">I", 6) + b"Exif\x00\x00" + exif

    def meta(mdat_payload_at: int) -> bytes:
        infe_image = full_box(b"infe", struct.pack(">HH", 1, 0) + b"hvc1" + b"\x00", version=2)
        infe_exif = full_box(b"infe", struct.pack(">HH", 2, 0) + b"Exif" + b"\x00", version=2)
        iinf = full_box(b"iinf", struct.pack(">H", 2) + infe_image + infe_exif)
        iloc = full_box(
            b"iloc",
            bytes([0x44, 0x00]) + struct.pack(">H", 1) + struct.pack(">HHHII", 2, 0, 1, mdat_payload_at, len(item)),
        )
        ipco = box(b"ipco", b"".join(full_box(b"ispe", struct.pack(">II", w, h)) for w, h in sizes))
        return full_box(b"meta", iinf + iloc + box(b"iprp", ipco))

    at = len(ftyp) + len(meta(0)) + 8
    return ftyp + meta(at) + box(b"mdat", item)


def movie(width: int, height: int, created: datetime.datetime) -> bytes:
    seconds = int((created - media_meta.MAC_EPOCH).total_seconds())
    mvhd = full_box(b"mvhd", struct.pack(">IIII", seconds, seconds, 600, 0) + b"\x00" * 80)
    tkhd = full_box(b"tkhd", b"\x00" * 72 + struct.pack(">II", width << 16, height << 16))
    return (
        box(b"ftyp", b"qt  \x00\x00\x00\x00qt  ") + box(b"mdat", b"\x00" * 32) + box(b"moov", mvhd + box(b"trak", tkhd))
    )


XMP = """<?xml version="1.0" encoding="UTF-8"?>
<!-- Created with osxphotos https://github.com/RhetTbull/osxphotos -->
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 5.4.0">
  <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
    <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"
        xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/">
      <photoshop:SidecarForExtension>JPG</photoshop:SidecarForExtension>
      <dc:description>Sunset at the pier</dc:description>
      <dc:title>Pier</dc:title>
      <dc:subject><rdf:Seq>
        <rdf:li>Beach</rdf:li><rdf:li>Alice Doe</rdf:li><rdf:li>Sunset</rdf:li>
      </rdf:Seq></dc:subject>
      <photoshop:DateCreated>2023-05-01T10:20:30+02:00</photoshop:DateCreated>
    </rdf:Description>
    <rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">
      <Iptc4xmpExt:PersonInImage><rdf:Bag>
        <rdf:li>Alice Doe</rdf:li><rdf:li>_UNKNOWN_</rdf:li>
      </rdf:Bag></Iptc4xmpExt:PersonInImage>
    </rdf:Description>
    <rdf:Description rdf:about="" xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"
        xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#">
      <mwg-rs:Regions rdf:parseType="Resource"><mwg-rs:RegionList><rdf:Bag>
        <rdf:li rdf:parseType="Resource"><mwg-rs:Name>Bob Roe</mwg-rs:Name><mwg-rs:Type>Face</mwg-rs:Type></rdf:li>
      </rdf:Bag></mwg-rs:RegionList></mwg-rs:Regions>
    </rdf:Description>
    <rdf:Description rdf:about="" xmlns:lr="http://ns.adobe.com/lightroom/1.0/">
      <lr:hierarchicalSubject><rdf:Bag><rdf:li>Trips|Italy 2023</rdf:li></rdf:Bag></lr:hierarchicalSubject>
    </rdf:Description>
    <rdf:Description rdf:about="" xmlns:exif="http://ns.adobe.com/exif/1.0/" xmlns:tiff="http://ns.adobe.com/tiff/1.0/"
        tiff:Make="Canon" tiff:Model="Canon EOS R6">
      <exif:GPSLongitude>122,25.2W</exif:GPSLongitude>
      <exif:GPSLatitude>37,46.5N</exif:GPSLatitude>
    </rdf:Description>
  </rdf:RDF>
</x:xmpmeta>"""

JSON_SIDECAR = """[{"SourceFile": "IMG_0002.HEIC", "EXIF:DateTimeOriginal": "2022:12:24 18:00:00",
  "EXIF:OffsetTimeOriginal": "-05:00", "EXIF:GPSLatitude": 40.6892, "EXIF:GPSLatitudeRef": "N",
  "EXIF:GPSLongitude": 74.0445, "EXIF:GPSLongitudeRef": "W", "XMP:PersonInImage": ["Carol"],
  "XMP:Subject": ["Carol", "Christmas"], "IPTC:Keywords": ["Christmas", "Family"],
  "XMP:HierarchicalSubject": ["Holidays"], "XMP:Title": "Tree"}]"""

PHONE_EXIF = tiff("Apple", "iPhone 14 Pro", "2022:12:24 17:59:58", "-05:00", 40.0, -74.0)
FILES = {
    "Export/IMG_0001.JPG": jpeg(640, 480, tiff(taken="2001:01:01 00:00:00")),
    "Export/IMG_0001.JPG.xmp": XMP,
    "Export/IMG_0002.HEIC": heic([(512, 512), (4032, 3024), (320, 240)], PHONE_EXIF),
    "Export/IMG_0002.json": JSON_SIDECAR,
    "Export/2021/07/04/IMG_0003.JPG": jpeg(300, 200, salt=b"icloudpd"),
    "Export/IMG_0004.JPG": jpeg(100, 50, tiff("NIKON", "D750", "2019:08:10 12:00:00", lat=-33.8568, lon=151.2153)),
    "Export/IMG_0004.JPG.xmp": "this is not XML at all",
    "Export/IMG_0005.JPG": b"",
    "Export/Italy 2023/IMG_0001.JPG": jpeg(640, 480, tiff(taken="2001:01:01 00:00:00")),
    "Export/IMG_0006.MOV": movie(1920, 1080, datetime.datetime(2020, 2, 2, 8, 0, tzinfo=datetime.UTC)),
}


@pytest.fixture
def apple(owner):
    return connect(owner, "apple-photos")


@pytest.fixture
def export(tmp_path):
    return zip_of(tmp_path / "photos-export.zip", FILES)


def _row(integration, filename):
    return items(integration, data__filename=filename).get()


def test_an_export_with_xmp_and_json_sidecars_is_imported_with_everything_they_say(apple, export):
    job = import_files(apple, [export])

    assert job.status == "partial"
    assert job.created == 5  # IMG_0001 (twice in the zip: once), 0002, 0003, 0004, 0006
    errors = " ".join(e["error"] for e in job.item_errors)
    assert "photos-export.zip: Export/IMG_0004.JPG.xmp could not be read as a sidecar: it is not valid XML" in errors
    assert "IMG_0004.JPG was imported with what the file itself says" in errors
    assert "photos-export.zip: Export/IMG_0005.JPG is empty (0 bytes)" in errors

    first = _row(apple, "IMG_0001.JPG")
    digest = hashlib.sha256(FILES["Export/IMG_0001.JPG"]).hexdigest()
    assert first.external_id == f"apple-photos:{digest}"
    assert first.kind == "photo"
    assert first.title == "Pier"
    assert first.occurred_at == datetime.datetime(2023, 5, 1, 8, 20, 30, tzinfo=datetime.UTC)  # the sidecar's
    data = first.data
    assert data["media_type"] == "photo"
    assert data["start"] == "2023-05-01T10:20:30+02:00"
    assert data["sha256"] == digest
    assert data["geo"] == {"lat": 37.775, "lon": -122.42}
    assert (data["width"], data["height"]) == (640, 480)
    assert (data["camera_make"], data["camera_model"]) == ("Canon", "Canon EOS R6")
    assert data["keywords"] == ["Beach", "Sunset"]  # the person named in dc:subject is not a keyword
    assert data["people"] == [{"name": "Alice Doe", "email": ""}, {"name": "Bob Roe", "email": ""}]
    assert data["albums"] == ["Italy 2023"]
    assert data["mime_type"] == "image/jpeg"
    assert default_storage.open(data["file"]).read() == FILES["Export/IMG_0001.JPG"]

    phone = _row(apple, "IMG_0002.HEIC").data
    assert phone["start"] == "2022-12-24T18:00:00-05:00"
    assert phone["geo"] == {"lat": 40.6892, "lon": -74.0445}
    assert (phone["width"], phone["height"]) == (4032, 3024)  # the largest ispe, not a tile
    assert (phone["camera_make"], phone["camera_model"]) == ("Apple", "iPhone 14 Pro")  # from the file's EXIF
    assert phone["keywords"] == ["Christmas", "Family"]
    assert phone["people"] == [{"name": "Carol", "email": ""}]
    assert phone["albums"] == ["Holidays"]
    assert phone["mime_type"] == "image/heic"

    dated = _row(apple, "IMG_0003.JPG").data
    assert (dated["start"], dated["time_source"]) == ("2021-07-04T00:00:00+00:00", "folder")
    assert (dated["width"], dated["height"], dated["geo"], dated["people"]) == (300, 200, None, [])

    nikon = _row(apple, "IMG_0004.JPG").data
    assert (nikon["start"], nikon["time_source"]) == ("2019-08-10T12:00:00+00:00", "file")
    assert nikon["geo"] == {"lat": pytest.approx(-33.8568, abs=1e-4), "lon": pytest.approx(151.2153, abs=1e-4)}
    assert (nikon["camera_make"], nikon["camera_model"], nikon["sidecar"]) == ("NIKON", "D750", None)

    video = _row(apple, "IMG_0006.MOV")
    assert video.data["media_type"] == "video"
    assert video.data["mime_type"] == "video/quicktime"
    assert video.occurred_at == datetime.datetime(2020, 2, 2, 8, 0, tzinfo=datetime.UTC)
    assert (video.data["width"], video.data["height"]) == (1920, 1080)


def test_importing_the_same_export_again_adds_nothing(apple, export, tmp_path):
    import_files(apple, [export])
    again = import_files(apple, [zip_of(tmp_path / "again.zip", FILES)])
    assert again.created == 0
    assert again.updated == 0
    assert items(apple).count() == 5


def test_locations_are_left_out_when_the_setting_is_off(owner, export):
    apple = connect(owner, "apple-photos", config={"include_location": False})
    import_files(apple, [export])
    assert all(row.data["geo"] is None for row in items(apple))


def test_a_takeout_or_another_file_is_refused_naming_it(apple, tmp_path):
    takeout = zip_of(tmp_path / "takeout-1.zip", {"Takeout/Google Photos/Photos from 2020/a.jpg": jpeg(2, 2)})
    refused = "takeout-1.zip is a Google Takeout archive, not an Apple Photos export"
    with pytest.raises(ConfigError, match=re.escape(refused)):
        ApplePhotos.sniff([takeout])
    notes = zip_of(tmp_path / "notes.zip", {"notes.txt": "hello"})
    with pytest.raises(ConfigError, match=re.escape("notes.zip does not look like an Apple Photos export")):
        ApplePhotos.sniff([notes])
    assert ApplePhotos.sniff([zip_of(tmp_path / "ok.zip", FILES)]).startswith("Apple Photos export, ")


def test_a_zip_cut_short_fails_with_a_sentence_naming_it(apple, export, tmp_path):
    whole = Path(export).read_bytes()
    cut = tmp_path / "cut.zip"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ConfigError, match=re.escape("cut.zip is not a readable zip archive")):
        ApplePhotos.sniff([str(cut)])
    job = import_files(apple, [str(cut)])
    assert job.status == "failed"
    assert "cut.zip is not a readable zip archive" in job.error_message


@pytest.mark.parametrize(
    ("value", "ref", "expected"),
    [("37,46.5N", "", 37.775), ("122,25.2W", "", -122.42), ("33,51,24.48S", "", -33.8568), (40.5, "S", -40.5),
     ("-12.25", "", -12.25), ("33 deg 51' 24.48\" S", "", -33.8568), ("nowhere", "", None)],
)  # fmt: skip
def test_coordinates_in_the_forms_sidecars_write(value, ref, expected):
    assert sidecars.coordinate(value, ref) == (pytest.approx(expected) if expected is not None else None)


def test_a_sidecar_that_is_json_of_the_wrong_shape_or_xml_without_rdf_is_refused():
    with pytest.raises(sidecars.SidecarError, match="not an exiftool sidecar"):
        sidecars.parse("a.json", b'"just a string"')
    with pytest.raises(sidecars.SidecarError, match="not XMP"):
        sidecars.parse("a.xmp", b"<html><body/></html>")
    with pytest.raises(sidecars.SidecarError, match="entities"):
        sidecars.parse("a.xmp", b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>')


def test_damaged_headers_give_less_metadata_never_an_error(tmp_path):
    import io

    whole = heic([(4032, 3024)], PHONE_EXIF)
    for cut in (12, 40, len(whole) // 2, len(whole) - 3):
        media_meta.read(io.BytesIO(whole[:cut]))  # does not raise
    assert media_meta.read(io.BytesIO(whole))["camera_model"] == "iPhone 14 Pro"
    assert media_meta.read(io.BytesIO(b"\xff\xd8\xff\xe1\x00\x01")) == {}


def test_a_killed_import_resumes_without_losing_or_repeating_photos(apple, export, settings):
    settings.SYNC_BATCH_SIZE = 2
    stored, finished = import_killed_after_first_batch_then_resumed(apple, [export])
    assert 0 < stored < 5
    assert finished.status == "partial"  # the unreadable sidecar and the empty file
    assert items(apple).count() == 5
    assert len({row.data["sha256"] for row in items(apple)}) == 5


def test_the_same_photo_from_a_takeout_is_the_same_stored_file(apple, export):
    from connectors.google.media_store import storage_path

    import_files(apple, [export])
    row = _row(apple, "IMG_0001.JPG")
    digest = hashlib.sha256(FILES["Export/IMG_0001.JPG"]).hexdigest()
    assert row.data["file"] == storage_path(apple.user_id, digest, "IMG_0001.JPG")


def test_the_upload_page_checks_an_apple_photos_export(export, tmp_path):
    from integrations.models import IntegrationType
    from integrations.uploads.imports import accepts_archives, check_export
    from integrations.uploads.problems import UploadProblem

    itype = IntegrationType.objects.get(slug="apple-photos")
    assert accepts_archives(itype)
    assert "IMG_0001.JPG" in check_export(itype, [export])
    empty = tmp_path / "empty.zip"
    empty.write_bytes(b"")
    with pytest.raises(UploadProblem, match=re.escape("empty.zip is empty (0 bytes)")):
        check_export(itype, [str(empty)])


def test_a_video_sidecar_and_a_date_alone_are_read_as_osxphotos_writes_them():
    found = sidecars.parse(
        "IMG_0006.MOV.json",
        b'[{"IPTC:DateCreated": "2020:10:30", "QuickTime:CreationDate": "2020:10:30 09:15:00-04:00",'
        b' "Keys:GPSCoordinates": "-33.8568 151.2153", "XMP:PersonInImage": ["_UNKNOWN_"]}]',
    )
    assert found["taken"] == datetime.datetime(2020, 10, 30, 13, 15, tzinfo=datetime.UTC)
    assert found["geo"] == {"lat": -33.8568, "lon": 151.2153}
    assert found["people"] == []
    date_only = sidecars.parse("a.json", b'{"IPTC:DateCreated": "2020:10:30"}')
    assert date_only["taken"] == datetime.datetime(2020, 10, 30)  # no zone: placed by the connector


def test_a_camera_time_without_offset_is_read_in_the_persons_zone(apple, owner, tmp_path):
    from integrations.timezones import set_zone

    set_zone(owner, "Europe/Berlin")
    export = zip_of(
        tmp_path / "local.zip",
        {
            "winter.jpg": jpeg(10, 10, tiff(taken="2024:01:15 20:30:00"), salt=b"winter"),
            "summer.jpg": jpeg(10, 10, tiff(taken="2024:07:15 20:30:00"), salt=b"summer"),
            "offset.jpg": jpeg(10, 10, tiff(taken="2024:07:15 20:30:00", offset="-04:00"), salt=b"offset"),
            "blank-offset.jpg": jpeg(10, 10, tiff(taken="2024:07:15 20:30:00", offset="   :  "), salt=b"blank"),
            "2024/03/02/dated.jpg": jpeg(10, 10, salt=b"dated"),
        },
    )
    import_files(apple, [export])

    utc = datetime.UTC
    assert _row(apple, "winter.jpg").occurred_at == datetime.datetime(2024, 1, 15, 19, 30, tzinfo=utc)
    summer = _row(apple, "summer.jpg")
    assert summer.occurred_at == datetime.datetime(2024, 7, 15, 18, 30, tzinfo=utc)
    assert summer.data["start"] == "2024-07-15T20:30:00+02:00"
    # A time that says its offset keeps it, whatever the person's zone.
    assert _row(apple, "offset.jpg").occurred_at == datetime.datetime(2024, 7, 16, 0, 30, tzinfo=utc)
    assert _row(apple, "blank-offset.jpg").occurred_at == datetime.datetime(2024, 7, 15, 18, 30, tzinfo=utc)
    assert _row(apple, "dated.jpg").occurred_at == datetime.datetime(2024, 3, 1, 23, 0, tzinfo=utc)


def test_a_damaged_file_in_the_zip_is_named_and_the_rest_imported(apple, tmp_path):
    import zipfile

    path = tmp_path / "damaged.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("IMG_0001.JPG", jpeg(640, 480, salt=b"x" * 2000))
        archive.writestr("IMG_0003.JPG", jpeg(300, 200))
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("IMG_0001.JPG")
    middle = info.header_offset + 30 + len(info.filename) + 1000
    raw[middle : middle + 4] = b"BAD!"  # the CRC no longer matches
    path.write_bytes(bytes(raw))

    job = import_files(apple, [str(path)])
    assert job.status == "partial"
    assert [row.data["filename"] for row in items(apple)] == ["IMG_0003.JPG"]
    [error] = job.item_errors
    assert error["error"].startswith("damaged.zip: IMG_0001.JPG is damaged or cut short")
    assert "it was not imported" in error["error"]


def gps_tiff(gps: list[tuple[int, int, object]]) -> bytes:
    """A TIFF with only a GPS IFD holding these entries (tag, type, value)."""
    ifd0 = [(0x8825, 4, 0)]
    gps_at = 8 + len(_ifd(ifd0, 8))
    return b"MM\x00\x2a\x00\x00\x00\x08" + _ifd([(0x8825, 4, gps_at)], 8) + _ifd(gps, gps_at)


PARIS = [(1, 2, "N"), (2, 5, [48, 51, 29.6]), (3, 2, "E"), (4, 5, [2, 17, 40.2])]
SANTIAGO = [(1, 2, "S"), (2, 5, [(338568, 10000)]), (3, 2, "W"), (4, 5, [(7065, 100)])]  # decimal degrees


@pytest.mark.parametrize(
    ("case", "gps"),
    [
        ("no hemisphere for the latitude", [PARIS[1], *PARIS[2:]]),
        ("no hemisphere for the longitude", [*PARIS[:3]]),
        ("a hemisphere that is not one", [(1, 2, "E"), *PARIS[1:]]),
        ("no fix: 0/0 rationals for the latitude", [PARIS[0], (2, 5, [(0, 0), (0, 0), (0, 0)]), *PARIS[2:]]),
        ("no fix: 0/0 degrees", [*PARIS[:3], (4, 5, [(0, 0), (17, 1), (40, 1)])]),
        ("off the globe", [PARIS[0], (2, 5, [95, 0, 0]), PARIS[2], (4, 5, [200, 0, 0])]),
    ],
)
def test_gps_a_camera_writes_without_a_position_is_no_location_not_a_wrong_one(case, gps):
    assert "geo" not in media_meta.parse_tiff(gps_tiff(gps)), case


def test_a_sidecar_position_off_the_globe_is_no_location():
    written = b'[{"GPSLatitude": 95, "GPSLatitudeRef": "N", "GPSLongitude": 200, "GPSLongitudeRef": "E"}]'
    assert "geo" not in sidecars.parse("IMG_1.JPG.json", written)


@pytest.mark.parametrize(
    ("gps", "expected"),
    [
        (PARIS, {"lat": 48.8582222, "lon": 2.2945}),
        (SANTIAGO, {"lat": -33.8568, "lon": -70.65}),
        ([PARIS[0], (2, 5, [(48, 1), (5123, 100), (0, 0)]), *PARIS[2:]], {"lat": 48.8538333, "lon": 2.2945}),
    ],
)
def test_gps_as_degrees_minutes_seconds_decimal_degrees_or_decimal_minutes(gps, expected):
    assert media_meta.parse_tiff(gps_tiff(gps))["geo"] == pytest.approx(expected)


def exif_tiff(ifd0: list[tuple[int, int, object]], exif: list[tuple[int, int, object]]) -> bytes:
    """A TIFF with these IFD0 and Exif IFD entries (tag, type, value)."""
    first = _ifd([*ifd0, (0x8769, 4, 0)], 8)
    exif_at = 8 + len(first)
    return b"MM\x00\x2a\x00\x00\x00\x08" + _ifd([*ifd0, (0x8769, 4, exif_at)], 8) + _ifd(exif, exif_at)


@pytest.mark.parametrize(
    ("ifd0", "exif", "expected"),
    [
        # scanners and some editors write only DateTimeDigitized, with its own offset
        ([], [(0x9004, 2, "2019:08:10 14:05:00"), (0x9012, 2, "-04:00")], "2019-08-10T14:05:00-04:00"),
        # and older software only IFD0's DateTime
        ([(0x0132, 2, "2019:08:10 14:05:00")], [], "2019-08-10T14:05:00"),
        # DateTimeOriginal first, when it is a time; "0000:00:00 00:00:00" is none
        ([(0x0132, 2, "2020:01:01 00:00:00")], [(0x9003, 2, "2019:08:10 14:05:00")], "2019-08-10T14:05:00"),
        ([(0x0132, 2, "2019:08:10 14:05:00")], [(0x9003, 2, "0000:00:00 00:00:00")], "2019-08-10T14:05:00"),
        ([], [(0x9003, 2, "    :  :     :  :  "), (0x9004, 2, "2019:08:10 14:05:00")], "2019-08-10T14:05:00"),
    ],
)
def test_the_capture_time_falls_back_to_when_the_photo_was_digitized_then_written(ifd0, exif, expected):
    assert media_meta.parse_tiff(exif_tiff(ifd0, exif))["taken"].isoformat() == expected


@pytest.mark.parametrize(
    "written", ["1970:01:01 00:00:00", "1970-01-01T00:00:00Z", "2099:01:01 10:00:00", "2099-01-01T10:00:00+02:00"]
)
def test_a_clock_never_set_or_set_in_the_future_gives_no_capture_time(written):
    """A camera whose clock was reset writes the epoch; a future year is a clock set wrong. Neither
    is when the photo was taken: the dated folder or the zip's time is used instead."""
    assert media_meta.parse_exif_date(written) is None
    assert "taken" not in media_meta.parse_tiff(exif_tiff([], [(0x9003, 2, written)]))
    assert media_meta.parse_exif_date("1969:07:20 20:17:00") == datetime.datetime(1969, 7, 20, 20, 17)  # a scan


def test_a_video_whose_clock_was_never_set_gives_no_capture_time():
    import io

    unset = movie(1920, 1080, media_meta.MAC_EPOCH + datetime.timedelta(days=3))  # the 1904 epoch
    assert "taken" not in media_meta.read(io.BytesIO(unset))
    set_ = movie(1920, 1080, datetime.datetime(2020, 2, 2, 8, 0, tzinfo=datetime.UTC))
    assert media_meta.read(io.BytesIO(set_))["taken"] == datetime.datetime(2020, 2, 2, 8, 0, tzinfo=datetime.UTC)


def test_a_null_date_of_year_one_is_no_time_and_the_photo_is_imported(apple, tmp_path):
    """.NET software writes DateTime.MinValue ("0001:01:01 00:00:00") for "no date": with an offset
    east of UTC it is before the year 1, which failed the photo's import (OverflowError)."""
    null = exif_tiff([], [(0x9003, 2, "0001:01:01 00:00:00"), (0x9011, 2, "+05:00")])
    job = import_files(apple, [zip_of(tmp_path / "e.zip", {"Export/IMG_1.JPG": jpeg(10, 10, null)})])
    assert job.status == "succeeded", job.item_errors
    assert _row(apple, "IMG_1.JPG").data["time_source"] == "archive"
    assert media_meta.parse_exif_date("0001:01:01 00:00:00") is None
    assert media_meta.parse_exif_date("1826:06:01 12:00:00") == datetime.datetime(1826, 6, 1, 12, 0)  # the first


def test_an_offset_no_zone_has_leaves_the_time_as_the_camera_showed_it():
    assert media_meta.parse_exif_date("2020:01:01 10:00:00", "+99:99") == datetime.datetime(2020, 1, 1, 10, 0)
    assert media_meta.parse_exif_date("2020:01:01 10:00:00", "+15:00") == datetime.datetime(2020, 1, 1, 10, 0)
    assert media_meta.parse_exif_date("2020:01:01 10:00:00", "+14:00").utcoffset() == datetime.timedelta(hours=14)


def test_a_text_file_named_like_a_photo_is_named_in_the_errors_and_the_rest_imported(apple, tmp_path):
    """A download that failed saves the server's error page under the photo's name."""
    page = b"<!DOCTYPE html>\n<html><head><title>403 Forbidden</title></head><body>Denied</body></html>\n"
    files = {"Export/IMG_0001.JPG": page, "Export/IMG_0002.JPG": jpeg(300, 200), "Export/notes.png": b"just text"}
    job = import_files(apple, [zip_of(tmp_path / "e.zip", files)])
    assert job.status == "partial"
    assert [row.data["filename"] for row in items(apple)] == ["IMG_0002.JPG"]
    errors = {e["external_id"]: e["error"] for e in job.item_errors}
    assert set(errors) == {"e.zip: Export/IMG_0001.JPG", "e.zip: Export/notes.png"}
    assert "is not a photo or video: it is text (an HTML page" in errors["e.zip: Export/IMG_0001.JPG"]


def test_a_camera_that_writes_only_offset_time_gives_the_capture_time_its_offset():
    """Some cameras write OffsetTime (of DateTime) and not OffsetTimeOriginal: it is the clock's zone."""
    written = exif_tiff([], [(0x9003, 2, "2019:08:10 14:05:00"), (0x9010, 2, "-04:00")])
    assert media_meta.parse_tiff(written)["taken"].isoformat() == "2019-08-10T14:05:00-04:00"
    both = exif_tiff([], [(0x9003, 2, "2019:08:10 14:05:00"), (0x9010, 2, "-04:00"), (0x9011, 2, "-05:00")])
    assert media_meta.parse_tiff(both)["taken"].isoformat() == "2019-08-10T14:05:00-05:00"


def test_the_resource_forks_a_mac_adds_to_a_zip_are_not_imported_as_photos(apple, tmp_path):
    """Finder's "Compress" adds __MACOSX/._<name> (AppleDouble) beside every file: named like the
    photo, holding none of it."""
    apple_double = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + b"\x00" * 200
    files = {
        "Export/IMG_0001.JPG": FILES["Export/IMG_0001.JPG"],
        "__MACOSX/Export/._IMG_0001.JPG": apple_double,
        "Export/._IMG_0004.JPG": apple_double,
        "Export/.DS_Store": b"\x00\x00\x00\x01Bud1" + b"\x00" * 100,
    }
    job = import_files(apple, [zip_of(tmp_path / "Export.zip", files)])

    assert job.status == "succeeded", (job.error_message, job.item_errors)
    assert list(items(apple).values_list("data__filename", flat=True)) == ["IMG_0001.JPG"]
