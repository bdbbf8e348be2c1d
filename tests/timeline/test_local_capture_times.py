"""A photo whose camera wrote its local time without an offset (EXIF DateTimeOriginal alone, as
most cameras and phones do) is placed in its owner's zone, so it is linked to the event it was
taken at, as a person in Berlin sees both."""

import pytest

from integrations.timezones import set_zone
from tests.connectors.archive_helpers import import_files, zip_of
from tests.connectors.helpers import connect, sync
from tests.connectors.test_apple_photos import jpeg, tiff
from timeline.ingest import drain
from timeline.models import Entity, Link, LinkReason

pytestmark = pytest.mark.usefixtures("catalogue")


@pytest.mark.parametrize("month", [1, 7])  # CET and CEST: 19:30 and 18:30 UTC
def test_a_photo_without_offset_links_to_the_event_of_its_local_time(owner, feed_server, settings, tmp_path, month):
    settings.MEDIA_ROOT = tmp_path / "media"
    set_zone(owner, "Europe/Berlin")
    feed_server.serve(
        "/cal.ics",
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//EN\r\nBEGIN:VEVENT\r\nUID:dinner@example.com\r\n"
        f"DTSTART;TZID=Europe/Berlin:2026{month:02d}15T200000\r\nDTEND;TZID=Europe/Berlin:2026{month:02d}15T210000\r\n"
        "SUMMARY:Dinner\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    )
    window = {"window_past_days": 3650, "window_future_days": 3650}
    sync(connect(owner, "ical-feed", secrets={"url": feed_server.url("/cal.ics")}, config=window))
    photos = connect(owner, "apple-photos")
    taken = f"2026:{month:02d}:15 20:30:00"
    import_files(photos, [zip_of(tmp_path / "export.zip", {"IMG_1.JPG": jpeg(10, 10, tiff(taken=taken))})])
    drain(owner.pk)

    live = Entity.objects.filter(user=owner, deleted_at__isnull=True)
    dinner, photo = live.get(kind="event"), live.get(kind="photo")
    assert Link.objects.filter(source=photo, target=dinner, reason=LinkReason.TAKEN_DURING).exists()
