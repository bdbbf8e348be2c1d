"""A zone name that is a folder of the zone database ("America", "Etc") is not a zone: Python's
zoneinfo raises IsADirectoryError for it, not ZoneInfoNotFoundError. A calendar naming one syncs
like one naming any other unknown zone (it failed whole with an internal error)."""

import datetime

import pytest

from integrations.models import JobStatus, SyncedItem
from tests.connectors.helpers import connect, sync
from tests.connectors.test_ical_feed import WIDE, _calendar, _event, _year

pytestmark = pytest.mark.usefixtures("catalogue")


def _feed(zone: str, *events: str) -> str:
    return _calendar(*events).replace("PRODID:-//tests//EN\r\n", f"PRODID:-//tests//EN\r\nX-WR-TIMEZONE:{zone}\r\n")


@pytest.mark.parametrize("zone", ["America", "Etc", "Mars/Olympus"])
def test_a_feed_naming_a_folder_as_its_zone_syncs(owner, feed_server, zone):
    year = _year()
    feed_server.serve("/cal.ics", _feed(zone, _event("floating@example.com", "Floating", f"{year}0410T090000")))
    integration = connect(owner, "ical-feed", secrets={"url": feed_server.url("/cal.ics")}, config=WIDE)
    job = sync(integration)
    assert job.status == JobStatus.SUCCEEDED, job.error_message
    item = SyncedItem.objects.get(integration=integration)
    assert item.occurred_at.date() == datetime.date(year, 4, 10)


@pytest.mark.parametrize("zone", ["America", "Mars/Olympus"])
def test_an_event_naming_a_folder_as_its_zone_costs_that_event_at_most(owner, feed_server, zone):
    year = _year()
    odd = _event("odd@example.com", "Odd zone", f"{year}0411T090000Z").replace(
        f"DTSTART:{year}0411T090000Z", f"DTSTART;TZID={zone}:{year}0411T090000"
    )
    feed_server.serve("/cal.ics", _calendar(_event("fine@example.com", "Fine", f"{year}0410T090000Z"), odd))
    integration = connect(owner, "ical-feed", secrets={"url": feed_server.url("/cal.ics")}, config=WIDE)
    job = sync(integration)
    assert job.status in (JobStatus.SUCCEEDED, JobStatus.PARTIAL), job.error_message
    stored = set(SyncedItem.objects.filter(integration=integration).values_list("external_id", flat=True))
    named = {error["external_id"] for error in job.item_errors}
    assert "fine@example.com" in stored
    assert "odd@example.com" in stored | named  # kept, or its problem named
