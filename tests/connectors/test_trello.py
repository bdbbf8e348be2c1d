"""Trello against its contract fake over real HTTP: boards, lists and cards synced (archived
cards deleted), cards added to a list without duplicates, the per-token window respected, 429s
without headers waited out, and each error class with its own fix."""

import datetime

import pytest

from connectors.base import OutgoingCard
from connectors.errors import AuthError, ConfigError, RateLimited, TransientError
from connectors.trello import created_at
from integrations.models import IntegrationType, JobStatus
from tests.connectors.helpers import live_items, sync
from tests.fakes.contract import open_connector, seed_owner, step_config
from tests.fakes.trello import API_KEY, ME, OTHER, TOKEN, TrelloFake


@pytest.fixture
def owner(db):
    return seed_owner("trello")


@pytest.fixture
def trello(allow_host, settings):
    fake = TrelloFake()
    allow_host(fake.host)
    settings.CONNECTOR_API_BASES = {"trello": fake.url}
    yield fake
    fake.stop()


@pytest.fixture
def board(trello):
    board_id = trello.add_board("Home", "AbCdEf12")
    todo = trello.add_list(board_id, "To do")
    return board_id, todo


def _trello(owner, token=TOKEN, **config):
    return open_connector(owner, "trello", secrets={"api_key": API_KEY, "token": token}, config=config)


def _step(**values):
    return step_config("trello", "output", **values)


def test_trello_is_available_with_its_per_token_window(owner):
    itype = IntegrationType.objects.get(slug="trello")
    assert (itype.is_available, itype.handler, itype.category) == (True, "trello", "both")
    assert (itype.burst_limit, itype.burst_window_seconds) == (90, 10)  # Trello: 100 per 10 s per token


def test_a_sync_reads_boards_lists_and_cards_as_typed_records(owner, trello, board):
    board_id, todo = board
    card_id = trello.add_card(
        todo, "Fix the sink", due="2026-12-10T17:00:00.000Z", dueComplete=True, desc="Washer",
        labels=[{"id": "l1", "name": "house", "color": "green"}, {"id": "l2", "name": "", "color": "red"}],
    )  # fmt: skip
    integration = _trello(owner).ctx.integration
    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED
    items = {i.external_id: i for i in live_items(integration)}
    assert set(items) == {f"board:{board_id}", f"list:{todo}", f"card:{card_id}"}
    card = items[f"card:{card_id}"]
    assert card.kind == "task"
    assert {k: card.data[k] for k in ("due", "completed", "completed_at", "project", "priority", "labels", "url")} == {
        "due": "2026-12-10T17:00:00+00:00",
        "completed": True,
        "completed_at": None,
        "project": "Home",
        "priority": None,
        "labels": ["house", "red"],
        "url": trello.cards[card_id]["url"],
    }
    assert card.data["list"] == "To do"
    assert card.occurred_at == datetime.datetime(2026, 12, 10, 17, tzinfo=datetime.UTC)
    assert (items[f"board:{board_id}"].kind, items[f"list:{todo}"].kind) == ("trello_board", "trello_list")
    seen = trello.requests("GET", r"/members/me$")[0]
    assert seen.headers["Authorization"] == f'OAuth oauth_consumer_key="{API_KEY}", oauth_token="{TOKEN}"'
    assert all("key" not in s.args and "token" not in s.args for s in trello.log)  # never in the URL


def test_cards_archived_in_trello_are_deleted_here_and_unchanged_ones_cost_nothing(owner, trello, board):
    _, todo = board
    keep, archive = trello.add_card(todo, "Keep"), trello.add_card(todo, "Archive me")
    integration = _trello(owner).ctx.integration
    sync(integration)
    trello.cards[archive]["closed"] = True
    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED
    assert (job.created, job.updated, job.deleted) == (0, 0, 1)
    assert set(live_items(integration).filter(kind="task").values_list("external_id", flat=True)) == {f"card:{keep}"}


def test_chosen_boards_and_only_my_cards(owner, trello, board):
    _, todo = board
    other_board = trello.add_board("Work", "WkWkWk12")
    trello.add_card(trello.add_list(other_board, "Doing"), "Not this board")
    mine = trello.add_card(todo, "Mine")
    trello.add_card(todo, "Theirs", idMembers=[OTHER])
    integration = _trello(owner, boards=["https://trello.com/b/AbCdEf12/home"], only_mine=True).ctx.integration
    sync(integration)
    assert set(live_items(integration).filter(kind="task").values_list("external_id", flat=True)) == {f"card:{mine}"}
    assert {s.path for s in trello.requests("GET", r"/boards/")} >= {"/1/boards/AbCdEf12"}


def test_cards_are_paged_with_before(owner, trello, board):
    _, todo = board
    ids = [trello.add_card(todo, f"Card {n}", created=1_750_000_000 + n) for n in range(1001)]
    records = [r for b in _trello(owner).list_changes(None) for r in b.items if r["_type"] == "card"]
    assert sorted(r["id"] for r in records) == sorted(ids)
    pages = trello.requests("GET", r"/cards/visible$")
    assert [(s.args.get("limit"), s.args.get("before")) for s in pages] == [("1000", None), ("1000", ids[1])]


def test_the_per_token_window_keeps_the_hub_under_trellos_limit(owner, trello, board):
    # Trello's window scaled down (5 per second) with the blueprint's margin scaled alike.
    trello.LIMIT, trello.WINDOW = 5, 1.0
    IntegrationType.objects.filter(slug="trello").update(burst_limit=4, burst_window_seconds=1)
    for n in range(3):
        board_id = trello.add_board(f"Board {n}", f"Bo{n}rd{n}xx")
        trello.add_card(trello.add_list(board_id, "L"), f"Card {n}")
    integration = _trello(owner).ctx.integration
    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED
    assert trello.rate_limited == []
    times = [s.at for s in trello.log]
    assert len(times) >= 10
    assert times[8] - times[0] >= 1.0  # nine requests needed two windows


def test_429_without_headers_is_waited_out(owner, trello, board, fast_backoff):
    trello.fail("GET", r"/members/me$", 429, {"error": "API_TOKEN_LIMIT_EXCEEDED"}, times=2)
    assert _trello(owner).test_connection() == "Me Myself (@me)"
    assert len(trello.requests("GET", r"/members/me$")) == 3


def test_429_that_outlasts_the_retries_waits_a_whole_window(owner, trello, fast_backoff, settings):
    settings.SYNC_MAX_TRANSIENT_RETRIES = 1
    trello.fail("GET", r"/members/me$", 429, {"error": "API_TOKEN_LIMIT_EXCEEDED"}, times=5)
    with pytest.raises(RateLimited) as exc:
        _trello(owner).test_connection()
    assert exc.value.retry_after == 10.0


def test_a_workflow_adds_cards_once(owner, trello, board):
    _, todo = board
    card = OutgoingCard(
        title="Read this", markdown="An article", url="https://example.com/a", due=datetime.date(2026, 12, 24),
        key="workflow-1-card-9-output-2",
    )  # fmt: skip
    connector = _trello(owner)
    first = connector.send([card], _step(list_id=todo, position="top"))
    again = connector.send([card], _step(list_id=todo))

    created = [c for c in trello.cards.values() if c["name"] == "Read this"]
    assert len(created) == 1
    assert first.external_ids == again.external_ids == [created[0]["id"]]
    assert again.detail == "0 cards created in Trello; 1 already there (same delivery key), not duplicated."
    body = trello.requests("POST", r"/cards$")[0].json
    assert body == {
        "idList": todo,
        "name": "Read this",
        "desc": "An article\n\nhttps://example.com/a\n\nDelivery key: workflow-1-card-9-output-2",
        "pos": "top",
        "due": "2026-12-24T12:00:00Z",
    }


def test_a_malformed_list_id_is_refused_before_any_request(owner, trello):
    with pytest.raises(ConfigError, match="not a Trello list ID") as exc:
        _trello(owner).send([OutgoingCard(title="x")], _step(list_id="To do"))
    assert exc.value.field == "list_id"
    assert trello.log == []


def test_an_unknown_list_names_the_field(owner, trello):
    with pytest.raises(ConfigError, match="no such list") as exc:
        _trello(owner).send([OutgoingCard(title="x")], _step(list_id="5f" + "0" * 22))
    assert exc.value.field == "list_id"


def test_an_unknown_board_names_the_field(owner, trello):
    with pytest.raises(ConfigError, match="no such board") as exc:
        list(_trello(owner, boards=["ZZZZZZZZ"]).list_changes(None))
    assert exc.value.field == "boards"


def test_401_asks_for_a_new_token(owner, trello):
    with pytest.raises(AuthError) as exc:
        _trello(owner, token="expired").test_connection()
    assert exc.value.field == "token"
    assert "new token" in exc.value.remediation


def test_a_permission_refusal_is_about_access(owner, trello):
    trello.fail("GET", r"/members/me$", 401, "unauthorized permission requested")
    with pytest.raises(AuthError, match="denied access") as exc:
        _trello(owner).test_connection()
    assert "added to it" in exc.value.remediation


def test_5xx_is_transient(owner, trello, fast_backoff):
    trello.fail("GET", r"/members/me$", 502, "Bad Gateway", times=10)
    with pytest.raises(TransientError):
        _trello(owner).test_connection()


def test_creation_time_comes_from_the_id():
    assert created_at("5f5a4b3c0000000000000000") == datetime.datetime.fromtimestamp(0x5F5A4B3C, tz=datetime.UTC)
    assert created_at("not-hex") is None
    assert ME  # the fake's member id is a valid ObjectId
    assert created_at(ME) is not None


def test_a_card_longer_than_trello_takes_is_cut_with_a_note_and_still_delivered_once(owner, trello, board):
    """Trello takes 16,384 characters of description. A longer card was cut at that length, which
    also cut off its delivery key line: a retried delivery then could not recognise it and created
    the card again. The text is now cut with a note, and the key line always stays."""
    _, todo = board
    card = OutgoingCard(title="Long read", markdown="word " * 5000, url="https://example.com/long", key="long-1")
    connector = _trello(owner)
    connector.send([card], _step(list_id=todo))
    again = connector.send([card], _step(list_id=todo))

    (created,) = [c for c in trello.cards.values() if c["name"] == "Long read"]
    assert len(created["desc"]) <= 16384
    assert created["desc"].endswith("Delivery key: long-1")
    assert created["desc"].rsplit("\n\n", 3)[-3].startswith("… (cut")
    assert "https://example.com/long" in created["desc"]  # the way to the whole of it stays
    assert again.external_ids == [created["id"]]


def test_a_due_time_without_a_zone_is_sent_as_the_persons_hour(owner, trello, board):
    from integrations.models import UserPreferences

    _, todo = board
    UserPreferences.objects.update_or_create(user=owner, defaults={"time_zone": "America/New_York"})
    card = OutgoingCard(title="Dentist", due=datetime.datetime(2026, 7, 2, 15, 30), key="dentist")
    _trello(owner).send([card], _step(list_id=todo))
    assert trello.requests("POST", r"/cards$")[0].json["due"] == "2026-07-02T19:30:00Z"  # 15:30 EDT
