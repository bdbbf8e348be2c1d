"""What the timeline pages show beyond their records: the other days keep the filters, also after
a filter was changed in place (the links come with the swapped results); a record's time names the
person's zone; its fields read as text, not as Python's repr of dicts and lists."""

import datetime
import zoneinfo

import pytest

from integrations.models import IntegrationType
from tests.factories import make_integration
from tests.timeline.test_pages import _live_in, store
from timeline.ingest import ingest
from timeline.models import Entity
from timeline.views import readable

pytestmark = pytest.mark.usefixtures("catalogue")
ZURICH = zoneinfo.ZoneInfo("Europe/Zurich")
SHOW = datetime.datetime(2026, 12, 7, 0, 30, tzinfo=ZURICH)  # 23:30 UTC the day before


@pytest.fixture
def show(owner):
    feed = make_integration(owner, IntegrationType.objects.get(slug="ical-feed"), name="Feed")
    item = store(
        feed, "show", "event", SHOW, title="Late show", start=SHOW.isoformat(),
        end=(SHOW + datetime.timedelta(hours=1)).isoformat(), tzid="Europe/Zurich", location="Kaufleuten",
        geo=[47.372176, 8.535379], uid="show", attendees=[{"name": "Ann", "email": "ann@example.com"}],
    )  # fmt: skip
    ingest(owner.pk, [item.pk])
    return Entity.objects.get(user=owner, kind="event")


def test_the_other_days_keep_the_filters_in_the_swapped_results(owner_client, owner, show):
    _live_in(owner_client, owner, "Europe/Zurich")
    swapped = owner_client.get(
        "/timeline/", {"q": "", "date": "2026-12-07", "view": "day", "kind": "photo", "source": ""},
        headers={"HX-Request": "true", "HX-Target": "results"},
    ).content.decode()  # fmt: skip
    assert 'id="results"' in swapped
    assert "<html" not in swapped  # only the results, swapped in place
    assert 'href="?date=2026-12-06&amp;view=day&amp;kind=photo"' in swapped
    assert 'href="?date=2026-12-08&amp;view=day&amp;kind=photo"' in swapped
    assert 'href="?view=day&amp;kind=photo">Today' in swapped
    week = owner_client.get("/timeline/", {"date": "2026-12-07", "view": "week", "place": show.place_id})
    assert 'href="?date=2026-11-30&amp;view=week&amp;place=' in week.content.decode()
    searching = owner_client.get("/timeline/", {"q": "late"}, headers={"HX-Request": "true", "HX-Target": "results"})
    assert "Previous day" not in searching.content.decode()  # search spans every day


def test_a_records_time_names_the_zone_and_its_fields_read_as_text(owner_client, owner, show):
    _live_in(owner_client, owner, "Europe/Zurich")
    page = owner_client.get(f"/timeline/records/{show.pk}/").content.decode()
    assert "Monday 7 December 2026, 00:30 \u2013 01:30 (Europe/Zurich)" in page
    assert "{'" not in page  # no Python repr of the geo or the attendees
    assert "[{" not in page
    assert "Ann</a>" in page  # the attendee is in People
    assert 'data-label="Integration"' in page  # the sources stack on a phone


def test_readable_values():
    assert readable({"lat": 47.372176, "lon": 8.535379}) == "47.37218, 8.53538"
    assert readable([{"name": "Ann", "email": "ann@example.com"}, {"email": "bob@example.com"}]) == (
        "Ann <ann@example.com>, bob@example.com"
    )
    assert readable(True) == "yes"
    assert readable(None) == ""
    assert readable({"kind": "x", "empty": None}) == "kind: x"
    assert readable(["a", None, 3]) == "a, 3"
