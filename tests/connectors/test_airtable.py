"""Airtable against its contract fake over real HTTP: records mapped from cards, ten per
request, five requests per second per base, the 30-second penalty waited out, upserts on a
delivery key, records read back, and Airtable's error types explained."""

import datetime

import pytest

from connectors.airtable import parse_field_map
from connectors.base import OutgoingCard
from connectors.errors import AuthError, ConfigError
from integrations.models import IntegrationType
from tests.fakes.airtable import BASE_ID, TABLE, TOKEN, AirtableFake
from tests.fakes.contract import open_connector, seed_owner, step_config

MAP = "Name = title\nNotes = summary\nLink = url\nTags = tags\nDue = date\nTemperature = data.temp_max"


@pytest.fixture
def owner(db):
    return seed_owner("airtable")


@pytest.fixture
def airtable(allow_host, settings):
    fake = AirtableFake()
    allow_host(fake.host)
    settings.CONNECTOR_API_BASES = {"airtable": fake.url}
    settings.AIRTABLE_RATE_LIMIT_PAUSE = fake.PENALTY
    yield fake
    fake.stop()


def _airtable(owner, token=TOKEN, **config):
    return open_connector(owner, "airtable", secrets={"token": token}, config=config)


def _step(**values):
    return step_config("airtable", "output", **{"base_id": BASE_ID, "table": TABLE, **values})


def _cards(n):
    return [OutgoingCard(title=f"Book {i}", markdown=f"Notes {i}", key=f"k{i}") for i in range(n)]


def test_airtable_is_available_and_registered(owner):
    itype = IntegrationType.objects.get(slug="airtable")
    assert itype.is_available
    assert itype.handler == "airtable"
    # Airtable allows 5 per second per base; the blueprint keeps one in hand for network jitter.
    assert (itype.burst_limit, itype.burst_window_seconds) == (4, 1)


def test_cards_become_records_through_the_field_mapping(owner, airtable):
    card = OutgoingCard(
        title="Dune",
        markdown="A **classic**.",
        url="https://example.com/dune",
        tags=["sci-fi", "reread"],
        due=datetime.date(2026, 4, 1),
        data={"temp_max": 21.5},
        key="k-dune",
    )
    delivery = _airtable(owner).send([card], _step(field_map=MAP))

    (record,) = airtable.records
    assert record["fields"] == {
        "Name": "Dune",
        "Notes": "A **classic**.",
        "Link": "https://example.com/dune",
        "Tags": ["sci-fi", "reread"],
        "Due": "2026-04-01",
        "Temperature": 21.5,
    }
    assert delivery.external_ids == [record["id"]]
    assert delivery.detail == "1 record(s) added."
    sent = airtable.requests("POST")[0]
    assert sent.json["typecast"] is True
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.path == "/v0/appFAKEBASE000001/Reading list"  # sent percent-encoded, decoded by the server


def test_the_default_mapping_works_out_of_the_box(owner, airtable):
    _airtable(owner).send(_cards(1), _step())
    assert airtable.records[0]["fields"] == {"Name": "Book 0", "Notes": "Notes 0"}


def test_many_cards_go_ten_per_request_under_five_requests_per_second(owner, airtable):
    delivery = _airtable(owner).send(_cards(57), _step())
    sizes = [len(s.json["records"]) for s in airtable.requests("POST")]
    assert sizes == [10, 10, 10, 10, 10, 7]
    assert delivery.delivered == 57
    assert airtable.rate_limited == []  # the blueprint's 4 per second kept us under Airtable's limit
    times = [s.at for s in airtable.requests("POST")]
    assert times[4] - times[0] >= 0.95


def test_the_30_second_penalty_is_waited_out_not_dropped(owner, airtable, fast_backoff):
    opens_at = airtable.start_penalty()  # another client tripped the base's limit just now
    _airtable(owner).send(_cards(3), _step())
    posts = airtable.requests("POST")
    assert len(airtable.records) == 3
    assert posts[-1].at >= opens_at - 0.05  # the successful write came after the penalty ended
    assert len(posts) >= 2


def test_a_delivery_key_column_updates_instead_of_duplicating(owner, airtable):
    connector = _airtable(owner)
    config = _step(key_field="Key")
    connector.send(_cards(2), config)
    cards = _cards(3)
    cards[0].title = "Book 0 (second edition)"
    delivery = connector.send(cards, config)

    assert len(airtable.records) == 3
    assert airtable.records[0]["fields"]["Name"] == "Book 0 (second edition)"
    assert delivery.detail == "1 record(s) added, 2 already there updated in place (same key)."
    upsert = airtable.requests("PATCH")[-1].json
    assert upsert["performUpsert"] == {"fieldsToMergeOn": ["Key"]}


def test_an_unknown_column_names_the_mapping(owner, airtable):
    with pytest.raises(ConfigError, match='Unknown field name: "Author"') as exc:
        _airtable(owner).send(_cards(1), _step(field_map="Author = title"))
    assert exc.value.field == "field_map"


def test_a_text_column_given_a_list_is_explained(owner, airtable):
    with pytest.raises(ConfigError, match='Field "Notes" cannot accept the provided value'):
        _airtable(owner).send([OutgoingCard(title="x", tags=["a"])], _step(field_map="Name = title\nNotes = tags"))


def test_a_wrong_base_or_table_is_a_config_error(owner, airtable):
    with pytest.raises(ConfigError, match="cannot reach that base or table") as exc:
        _airtable(owner).send(_cards(1), _step(table="Books"))
    assert "token was given access to this base" in exc.value.remediation
    with pytest.raises(ConfigError, match="starts with app"):
        _airtable(owner).send(_cards(1), _step(base_id="tblWRONG"))


def test_a_refused_token_is_an_auth_error(owner, airtable):
    with pytest.raises(AuthError, match="Authentication required"):
        _airtable(owner, token="patWRONG").send(_cards(1), _step())


@pytest.mark.parametrize(
    ("text", "message"),
    [("Name title", 'is not "Column = field"'), ("Name = author", '"author" is not an item field'), ("", "empty")],
)
def test_field_mapping_mistakes_are_named(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_field_map(text)


def test_records_are_read_back_with_paging(owner, airtable):
    for i in range(130):
        airtable.records.append(
            {
                "id": f"recR{i:013d}",
                "createdTime": "2026-01-01T00:00:00.000Z",
                "fields": {"Name": f"Row {i}", "Notes": "n"},
            }
        )
    records = _airtable(owner).query(step_config("airtable", "source", base_id=BASE_ID, table=TABLE))
    assert len(records) == 130
    assert records[0].title == "Row 0"
    assert records[0].kind == "airtable_record"
    assert records[0].data["fields"] == {"Name": "Row 0", "Notes": "n"}
    assert [s.args.get("offset") for s in airtable.requests("GET")] == [None, "100"]


def test_test_connection_names_the_account_and_checks_the_table(owner, airtable):
    assert _airtable(owner).test_connection() == "me@example.com"
    assert _airtable(owner, base_id=BASE_ID, table=TABLE).test_connection() == "me@example.com, table Reading list"


def test_a_scheduled_sync_mirrors_the_table_deletions_included(owner, airtable):
    from integrations.models import JobStatus
    from tests.connectors.helpers import live_items, sync

    for name in ("Dune", "Emma", "Ulysses"):
        airtable.records.append(
            {"id": f"rec{name.upper():0<14}", "createdTime": "2026-01-01T00:00:00.000Z", "fields": {"Name": name}}
        )
    integration = _airtable(owner, base_id=BASE_ID, table=TABLE).ctx.integration
    assert sync(integration).created == 3
    airtable.records = [r for r in airtable.records if r["fields"]["Name"] != "Emma"]
    airtable.records[0]["fields"]["Name"] = "Dune Messiah"
    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED
    assert (job.updated, job.deleted, job.unchanged) == (1, 1, 1)
    assert sorted(live_items(integration).values_list("title", flat=True)) == ["Dune Messiah", "Ulysses"]


def test_a_listing_whose_offset_expired_starts_again_instead_of_failing(owner, airtable):
    """Airtable's paging offset can time out (422 LIST_RECORDS_ITERATOR_NOT_AVAILABLE, "restart
    iteration from the beginning"). The sync failed as "Airtable did not accept the records", a
    settings error; it now reads the table again from its first page, and every row arrives once."""
    from integrations.models import JobStatus
    from tests.connectors.helpers import live_items, sync

    for i in range(130):
        airtable.records.append(
            {"id": f"recE{i:013d}", "createdTime": "2026-01-01T00:00:00.000Z", "fields": {"Name": f"Row {i}"}}
        )
    integration = _airtable(owner, base_id=BASE_ID, table=TABLE).ctx.integration
    airtable.offsets_expire = 1
    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert live_items(integration).count() == 130
    assert [s.args.get("offset") for s in airtable.requests("GET")] == [None, "100", None, "100"]


def test_a_due_time_without_a_zone_is_written_as_the_persons_hour(owner, airtable):
    """Airtable reads a time without an offset as UTC: 15:30 for a person in New York became 11:30
    there. The time is now written with the person's offset."""
    from integrations.models import UserPreferences

    UserPreferences.objects.update_or_create(user=owner, defaults={"time_zone": "America/New_York"})
    card = OutgoingCard(title="Dentist", due=datetime.datetime(2026, 7, 2, 15, 30), key="dentist")
    _airtable(owner).send([card], _step(field_map="Name = title\nDue = due"))
    (record,) = airtable.records
    assert record["fields"]["Due"] == "2026-07-02T15:30:00-04:00"
