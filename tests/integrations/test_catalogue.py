"""The catalogue seeds every service of the mission, validly, idempotently, without trampling
what staff edited in the admin."""

import json

import pytest

from integrations import catalogue as loader
from integrations import schema
from integrations.models import IntegrationType
from tests.factories import seed_catalogue

MISSION_SERVICES = {
    "google-calendar", "outlook-calendar", "apple-calendar", "caldav", "ical-feed", "imap", "gmail",
    "google-photos", "apple-photos", "spotify", "apple-health", "google-fit", "fitbit", "myfitnesspal",
    "google-maps", "plaid", "ynab", "mint", "quicken", "notion", "trello", "todoist", "airtable", "zapier",
    "ifttt", "kindle-highlights", "coursera", "youtube-history", "amazon-orders", "instacart", "github",
    "perplexity", "rss", "weather", "web-scraper", "mailchimp", "slack", "discord", "webhook",
}  # fmt: skip


def test_every_service_named_in_the_mission_is_seeded(catalogue):
    seeded = set(IntegrationType.objects.values_list("slug", flat=True))
    assert seeded >= MISSION_SERVICES
    assert seeded == {path.stem for path in loader.fixture_paths()}


def test_every_seeded_type_is_valid(catalogue):
    from connectors.registry import registry

    for itype in IntegrationType.objects.all():
        itype.full_clean()  # runs the schema, scope and handler validators
        for name in ("auth_schema", "source_schema", "output_schema"):
            assert schema.definition_errors(getattr(itype, name)) == [], (itype.slug, name)
        if itype.is_available:
            assert itype.handler in registry, itype.slug
        if itype.auth_kind == "oauth2":
            assert itype.oauth_scopes, itype.slug
            assert itype.oauth_authorize_url, itype.slug
            assert itype.oauth_token_url, itype.slug
        if itype.is_output:
            assert itype.output_schema is not None
        assert itype.data_read or itype.data_written, f"{itype.slug} must say what it reads or writes"


def test_every_icon_exists(catalogue, settings):
    from pathlib import Path

    icons = Path(settings.BASE_DIR) / "static" / "icons"
    for icon in IntegrationType.objects.values_list("icon", flat=True):
        assert (icons / icon).is_file(), icon


def test_loading_twice_changes_nothing(db):
    first = loader.load()
    assert len(first.created) == len(loader.fixture_paths())
    stamps = dict(IntegrationType.objects.values_list("slug", "updated_at"))
    second = loader.load()
    assert second.created == []
    assert second.updated == []
    assert dict(IntegrationType.objects.values_list("slug", "updated_at")) == stamps


def test_the_tests_catalogue_shortcut_makes_the_rows_load_makes(db):
    def rows():
        skip = {"id", "created_at", "updated_at"}
        return [
            {f.name: getattr(t, f.name) for f in IntegrationType._meta.concrete_fields if f.name not in skip}
            for t in IntegrationType.objects.order_by("slug")
        ]

    seed_catalogue()  # the first call of a run is the real load(); the next one, on an empty table, is not
    IntegrationType.objects.all().delete()
    seed_catalogue()
    seeded = rows()
    IntegrationType.objects.all().delete()
    loader.load()
    assert len(seeded) == len(loader.fixture_paths())
    assert seeded == rows()


def test_admin_edits_survive_a_reload(catalogue):
    IntegrationType.objects.filter(slug="rss").update(description="Edited by staff", rate_limit_per_minute=3)
    loader.load()
    rss = IntegrationType.objects.get(slug="rss")
    assert rss.description == "Edited by staff"
    assert rss.rate_limit_per_minute == 3


def test_fixture_changes_apply_to_untouched_fields_and_report_conflicts(catalogue, tmp_path):
    # A developer ships a new fixture for rss (a new description and a new limit) while staff
    # had edited the limit: the description follows the fixture, the staff's limit is kept.
    IntegrationType.objects.filter(slug="rss").update(rate_limit_per_minute=3)
    source = loader.CATALOGUE_DIR / "rss.json"
    data = json.loads(source.read_text())
    data[0]["fields"]["description"] = "New fixture text"
    data[0]["fields"]["rate_limit_per_minute"] = 20
    (tmp_path / "rss.json").write_text(json.dumps(data))
    report = loader.load(directory=tmp_path)

    rss = IntegrationType.objects.get(slug="rss")
    assert rss.description == "New fixture text"
    assert rss.rate_limit_per_minute == 3
    assert report.conflicts == {"rss": ["rate_limit_per_minute"]}
    forced = loader.load(force=True, directory=tmp_path)
    assert "rss" in forced.updated
    assert IntegrationType.objects.get(slug="rss").rate_limit_per_minute == 20


def test_types_without_an_interval_of_their_own_sync_every_default_interval(db, settings, owner_client):
    settings.SYNC_DEFAULT_INTERVAL_MINUTES = 45
    loader.load(["ical-feed", "rss"])

    assert IntegrationType.objects.get(slug="ical-feed").sync_interval_default == 45
    assert IntegrationType.objects.get(slug="rss").sync_interval_default == 30  # its fixture says 30
    form = owner_client.get("/integrations/connect/ical-feed/").content.decode()
    assert 'name="sync_interval_minutes" value="45"' in form


@pytest.mark.parametrize(("staff_value", "kept"), [(None, False), (120, True)])
def test_a_field_dropped_from_a_fixture_falls_back_to_the_default_unless_staff_changed_it(
    db, settings, tmp_path, staff_value, kept
):
    source = json.loads((loader.CATALOGUE_DIR / "ical-feed.json").read_text())
    source[0]["fields"]["default_sync_interval_minutes"] = 15  # as fixtures seeded it before
    (tmp_path / "ical-feed.json").write_text(json.dumps(source))
    loader.load(directory=tmp_path)
    if staff_value:
        IntegrationType.objects.filter(slug="ical-feed").update(default_sync_interval_minutes=staff_value)

    del source[0]["fields"]["default_sync_interval_minutes"]  # the new fixture names none
    (tmp_path / "ical-feed.json").write_text(json.dumps(source))
    loader.load(directory=tmp_path)
    settings.SYNC_DEFAULT_INTERVAL_MINUTES = 45

    itype = IntegrationType.objects.get(slug="ical-feed")
    assert itype.sync_interval_default == (staff_value if kept else 45)


def test_invalid_fixture_is_refused_with_the_reason(db, tmp_path):
    bad = [{"model": "integrations.integrationtype", "fields": {
        "slug": "bad", "display_name": "Bad", "category": "source", "domain": "web", "description": "x",
        "icon": "x.svg", "auth_kind": "url", "auth_schema": [{"name": "URL", "type": "nope"}],
        "handler": "not-a-connector",
    }}]  # fmt: skip
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="catalogue fixture bad is invalid") as exc:
        loader.load(directory=tmp_path)
    message = str(exc.value)
    assert "lower_snake_case" in message
    assert "not a registered connector" in message
