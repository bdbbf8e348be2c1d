"""A camera writes its clock's local time without a zone (EXIF DateTimeOriginal alone), and, with
a GPS fix, the UTC time of that fix (GPSDateStamp, GPSTimeStamp). The difference between the two,
rounded to 15 minutes, is the zone the camera's clock was set to: a photo taken on a trip is placed
at the moment it was taken, not in the zone of the person's home.

The photos are real JPEGs: Pillow encodes the pixels, piexif writes EXIF and GPS as cameras do."""

from __future__ import annotations

import datetime
import io

import piexif
import pytest
from PIL import Image

from connectors.apple_photos import media_meta
from integrations.timezones import set_zone
from tests.connectors.archive_helpers import import_files, zip_of
from tests.connectors.helpers import connect, sync
from timeline.ingest import drain
from timeline.models import Entity, Link, LinkReason

pytestmark = pytest.mark.usefixtures("catalogue")


def photo(taken: str, gps_date: str | None = None, gps_time=None, offset: str = "", lat=40.7306, lon=-73.9866):
    exif = {piexif.ExifIFD.DateTimeOriginal: taken.encode()}
    if offset:
        exif[piexif.ExifIFD.OffsetTimeOriginal] = offset.encode()
    gps = {}
    if lat is not None:
        gps = {
            piexif.GPSIFD.GPSLatitudeRef: b"N" if lat >= 0 else b"S",
            piexif.GPSIFD.GPSLatitude: _dms(lat),
            piexif.GPSIFD.GPSLongitudeRef: b"E" if lon >= 0 else b"W",
            piexif.GPSIFD.GPSLongitude: _dms(lon),
        }
    if gps_date is not None:
        gps[piexif.GPSIFD.GPSDateStamp] = gps_date.encode()
    if gps_time is not None:
        gps[piexif.GPSIFD.GPSTimeStamp] = gps_time
    ifd0 = {piexif.ImageIFD.Make: b"Apple", piexif.ImageIFD.Model: b"iPhone 15"}
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 120, 40)).save(
        buffer, "JPEG", exif=piexif.dump({"0th": ifd0, "Exif": exif, "GPS": gps})
    )
    return buffer.getvalue()


def _dms(value: float):
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round(((value - degrees) * 60 - minutes) * 60 * 100)
    return ((degrees, 1), (minutes, 1), (seconds, 100))


def hms(hours, minutes, seconds=0, denominator=1):
    return ((hours, 1), (minutes, 1), (seconds, denominator))


def taken(data: bytes):
    return media_meta.read(io.BytesIO(data)).get("taken")


@pytest.mark.parametrize(
    ("camera", "gps_date", "gps_time", "offset"),
    [
        ("2026:07:15 20:30:00", "2026:07:16", hms(0, 30), "-04:00"),  # New York in summer, the next day in UTC
        ("2026:01:10 18:00:05", "2026:01:10", hms(12, 30, 9), "+05:30"),  # India
        ("2026:01:10 18:15:00", "2026:01:10", hms(12, 30), "+05:45"),  # Nepal
        ("2026:03:01 09:00:00", "2026:02:28", hms(19, 58, 2136, 100), "+13:00"),  # Tonga; the clock 1'39" fast
        ("2026:06:01 12:00:00", "2026:06:01", hms(12, 2, 10), "+00:00"),  # Reykjavik; the clock 2 min slow
    ],
)
def test_the_gps_time_gives_a_zoneless_camera_time_its_offset(camera, gps_date, gps_time, offset):
    found = taken(photo(camera, gps_date, gps_time))
    assert found.utcoffset() == media_meta._offset(offset).utcoffset(None)
    assert found.replace(tzinfo=None) == datetime.datetime.strptime(camera, "%Y:%m:%d %H:%M:%S")


@pytest.mark.parametrize(
    ("gps_date", "gps_time"),
    [
        (None, hms(0, 30)),  # no date: the fix's day is unknown
        ("2026:07:16", None),  # no time
        ("0000:00:00", hms(0, 0)),  # a receiver without a fix
        ("2026:07:13", hms(0, 30)),  # a fix two days old: no zone is 44 hours away
        ("2026:7:16", ((0, 0), (30, 1), (0, 1))),  # unreadable (a 0/0 hour)
    ],
)
def test_without_a_usable_gps_time_the_camera_time_stays_zoneless(gps_date, gps_time):
    assert taken(photo("2026:07:15 20:30:00", gps_date, gps_time)).tzinfo is None


def test_an_offset_the_camera_wrote_beats_the_gps_time():
    found = taken(photo("2026:07:15 20:30:00", "2026:07:16", hms(0, 30), offset="+02:00"))
    assert found.utcoffset() == datetime.timedelta(hours=2)


def test_a_holiday_photo_links_to_the_event_where_it_was_taken_not_at_home(owner, feed_server, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    set_zone(owner, "Europe/Berlin")
    feed_server.serve(
        "/cal.ics",
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//EN\r\nBEGIN:VEVENT\r\nUID:dinner@example.com\r\n"
        "DTSTART;TZID=America/New_York:20260715T200000\r\nDTEND;TZID=America/New_York:20260715T210000\r\n"
        "SUMMARY:Dinner in the Village\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    )
    window = {"window_past_days": 3650, "window_future_days": 3650}
    sync(connect(owner, "ical-feed", secrets={"url": feed_server.url("/cal.ics")}, config=window))
    photos = connect(owner, "apple-photos")
    # The phone showed New York time (20:30, no zone); its GPS fix said 00:30 UTC the next day.
    jpeg = photo("2026:07:15 20:30:00", "2026:07:16", hms(0, 30, 4))
    import_files(photos, [zip_of(tmp_path / "export.zip", {"IMG_1.JPG": jpeg})])
    drain(owner.pk)

    live = Entity.objects.filter(user=owner, deleted_at__isnull=True)
    dinner, picture = live.get(kind="event"), live.get(kind="photo")
    assert picture.start_at == datetime.datetime(2026, 7, 16, 0, 30, tzinfo=datetime.UTC)
    assert Link.objects.filter(source=picture, target=dinner, reason=LinkReason.TAKEN_DURING).exists()


def test_a_video_header_time_is_utc_and_links_to_the_event_in_the_persons_zone(owner, feed_server, settings, tmp_path):
    """QuickTime's mvhd creation time counts seconds since 1904 in UTC (ISO/IEC 14496-12): taken
    as it is, not moved into the person's zone."""
    from tests.connectors.test_apple_photos import movie

    settings.MEDIA_ROOT = tmp_path / "media"
    set_zone(owner, "Europe/Berlin")
    feed_server.serve(
        "/cal.ics",
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//EN\r\nBEGIN:VEVENT\r\nUID:concert@example.com\r\n"
        "DTSTART;TZID=Europe/Berlin:20260715T200000\r\nDTEND;TZID=Europe/Berlin:20260715T210000\r\n"
        "SUMMARY:Concert\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    )
    window = {"window_past_days": 3650, "window_future_days": 3650}
    sync(connect(owner, "ical-feed", secrets={"url": feed_server.url("/cal.ics")}, config=window))
    photos = connect(owner, "apple-photos")
    recorded = datetime.datetime(2026, 7, 15, 18, 45, tzinfo=datetime.UTC)  # 20:45 in Berlin
    import_files(photos, [zip_of(tmp_path / "export.zip", {"IMG_2.MOV": movie(1920, 1080, recorded)})])
    drain(owner.pk)

    live = Entity.objects.filter(user=owner, deleted_at__isnull=True)
    concert, video = live.get(kind="event"), live.get(kind="photo")
    assert video.start_at == recorded
    assert Link.objects.filter(source=video, target=concert, reason=LinkReason.TAKEN_DURING).exists()


def test_a_sidecar_time_without_offset_takes_the_zone_the_file_gives_the_same_time(owner, settings, tmp_path):
    """osxphotos' JSON sidecar repeats DateTimeOriginal without the zone; the file's GPS fix has it."""
    settings.MEDIA_ROOT = tmp_path / "media"
    set_zone(owner, "Europe/Berlin")
    photos = connect(owner, "apple-photos")
    sidecar = '[{"SourceFile": "IMG_7.JPG", "EXIF:DateTimeOriginal": "2026:07:15 20:30:00"}]'
    files = {"IMG_7.JPG": photo("2026:07:15 20:30:00", "2026:07:16", hms(0, 30)), "IMG_7.json": sidecar}
    import_files(photos, [zip_of(tmp_path / "export.zip", files)])
    drain(owner.pk)
    picture = Entity.objects.get(user=owner, kind="photo")
    assert picture.start_at == datetime.datetime(2026, 7, 16, 0, 30, tzinfo=datetime.UTC)


def test_the_time_an_editor_saved_the_file_at_is_not_zoned_by_the_capture_gps_fix():
    """Only IFD0's DateTime (when the file was written), ten hours after the fix: no zone from it."""
    buffer = io.BytesIO()
    gps = {piexif.GPSIFD.GPSDateStamp: b"2026:07:16", piexif.GPSIFD.GPSTimeStamp: hms(0, 30)}
    exif = piexif.dump({"0th": {piexif.ImageIFD.DateTime: b"2026:07:16 10:30:00"}, "GPS": gps})
    Image.new("RGB", (8, 8)).save(buffer, "JPEG", exif=exif)
    found = taken(buffer.getvalue())
    assert found == datetime.datetime(2026, 7, 16, 10, 30)
