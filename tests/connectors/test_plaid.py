"""Plaid against its contract fake over real HTTP: /transactions/sync with its cursor (added,
modified, removed, a pending charge that posts, pages, the loop restarted on a mutation during
pagination), balances from /accounts/balance/get, and each documented error with its own fix."""

import datetime
import json

import pytest

from connectors.errors import AuthError, ConfigError, RateLimited, TransientError
from connectors.plaid import money
from integrations.models import JobStatus
from tests.connectors.helpers import live_items, sync
from tests.fakes.contract import open_connector, seed_owner
from tests.fakes.plaid import ACCESS_TOKEN, CARD, CHECKING, CLIENT_ID, ITEM_ID, SECRET, PlaidFake


@pytest.fixture
def owner(db):
    return seed_owner("plaid")


@pytest.fixture
def plaid(allow_host, settings):
    fake = PlaidFake()
    allow_host(fake.host)
    settings.CONNECTOR_API_BASES = {"plaid": fake.url}
    settings.PLAID_CLIENT_ID, settings.PLAID_SECRET, settings.PLAID_ENV = CLIENT_ID, SECRET, "sandbox"
    yield fake
    fake.stop()


def _plaid(owner, token=ACCESS_TOKEN, **config):
    return open_connector(owner, "plaid", secrets={"access_token": token}, config={"window_days": 30, **config})


def _transactions(integration) -> dict:
    return {i.external_id: i for i in live_items(integration).filter(kind="transaction")}


@pytest.mark.parametrize(
    ("plaid_amount", "text"),
    [(12.34, "-12.34"), (-500, "500.00"), (0, "0.00"), (6.335, "-6.335"), ("72.1", "-72.10"), (1e-2, "-0.01")],
)
def test_plaid_amounts_flip_sign_into_exact_decimal_strings(plaid_amount, text):
    assert money(plaid_amount) == text


def test_a_first_sync_reads_balances_and_every_page_of_transactions(owner, plaid, monkeypatch):
    monkeypatch.setattr("connectors.plaid.PAGE_SIZE", 2)  # five updates: three pages
    plaid.add("t-1", "12.34", "2026-12-01", merchant_name="Grocer", account_id=CHECKING)
    plaid.add("t-2", "-2500", "2026-12-02", name="PAYROLL", merchant_name=None, category=["Transfer", "Payroll"])
    plaid.add("t-3", "89.4", "2026-12-03", account_id=CARD, iso_currency_code=None, unofficial_currency_code="USDT")
    plaid.modify("t-1", "12.35", "2026-12-01", merchant_name="Grocer")
    plaid.remove("t-2")
    integration = _plaid(owner).ctx.integration
    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED, job.error_message
    txs = _transactions(integration)
    assert set(txs) == {"transaction:t-1", "transaction:t-3"}
    t1 = txs["transaction:t-1"]
    assert {k: t1.data[k] for k in ("amount", "currency", "date", "account", "account_id", "payee", "status")} == {
        "amount": "-12.35",
        "currency": "USD",
        "date": "2026-12-01",
        "account": "Plaid Checking Official",
        "account_id": CHECKING,
        "payee": "Grocer",
        "status": "posted",
    }
    assert t1.data["category"] == "TRAVEL_FLIGHTS"
    assert t1.data["transaction_id"] == "t-1"
    assert t1.occurred_at == datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)
    assert (txs["transaction:t-3"].data["currency"], txs["transaction:t-3"].data["account"]) == (
        "USDT",
        "Plaid Credit Card Official",
    )
    accounts = {i.external_id: i.data for i in live_items(integration).filter(kind="plaid_account")}
    assert accounts[f"account:{CHECKING}"]["current"] == "110.5"
    assert accounts[f"account:{CARD}"]["limit"] == "2000"
    assert accounts[f"account:{CHECKING}"]["available"] == "100"

    pages = plaid.requests("POST", r"/transactions/sync$")
    assert [p.json["cursor"] for p in pages] == ["", "c2", "c4"]
    assert pages[0].json["options"] == {"days_requested": 30}
    assert all(p.json["client_id"] == CLIENT_ID and p.json["access_token"] == ACCESS_TOKEN for p in pages)
    assert integration.sync_cursor == {"transactions": "c5"}


def test_the_next_sync_resumes_from_the_cursor_and_a_posted_charge_replaces_the_pending_one(owner, plaid):
    plaid.add("t-pend", "25.00", "2026-12-04", pending=True)
    integration = _plaid(owner, include_pending=True).ctx.integration
    sync(integration)
    assert _transactions(integration)["transaction:t-pend"].data["status"] == "pending"

    plaid.post_pending("t-pend", "t-posted", "27.50", "2026-12-05")  # a tip added when it posted
    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED
    assert (job.created, job.deleted) == (1, 1)
    assert plaid.requests("POST", r"/transactions/sync$")[-1].json["cursor"] == "c1"
    assert "options" not in plaid.requests("POST", r"/transactions/sync$")[-1].json
    posted = _transactions(integration)
    assert set(posted) == {"transaction:t-posted"}
    assert posted["transaction:t-posted"].data["amount"] == "-27.50"
    assert posted["transaction:t-posted"].data["status"] == "posted"
    assert posted["transaction:t-posted"].data["pending_transaction_id"] == "t-pend"


def test_pending_charges_are_left_out_unless_asked_for(owner, plaid):
    plaid.add("t-pend", "25.00", "2026-12-04", pending=True)
    plaid.add("t-done", "5.00", "2026-12-03")
    integration = _plaid(owner).ctx.integration
    sync(integration)
    assert set(_transactions(integration)) == {"transaction:t-done"}


def test_a_mutation_during_pagination_restarts_the_whole_loop_from_its_first_cursor(owner, plaid, monkeypatch):
    monkeypatch.setattr("connectors.plaid.PAGE_SIZE", 1)
    plaid.add("t-1", "1.00", "2026-12-01")
    integration = _plaid(owner).ctx.integration
    sync(integration)  # cursor c1
    plaid.add("t-2", "2.00", "2026-12-02")
    plaid.add("t-3", "3.00", "2026-12-03")
    plaid.mutate_on_request = plaid.sync_calls + 2  # the second page of the next loop
    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED, job.error_message
    cursors = [p.json["cursor"] for p in plaid.requests("POST", r"/transactions/sync$")][1:]
    # c1 -> c2 (page 1), c2 refused, then the loop starts over from c1 and reads through the change.
    assert cursors == ["c1", "c2", "c1", "c2", "c3"]
    assert set(_transactions(integration)) == {f"transaction:t-{n}" for n in (1, 2, 3)} | {"transaction:t-mutated"}
    assert integration.sync_cursor == {"transactions": "c4"}


def test_a_page_saves_the_loops_first_cursor_until_the_loop_ends(owner, plaid, monkeypatch):
    monkeypatch.setattr("connectors.plaid.PAGE_SIZE", 1)
    for n in range(3):
        plaid.add(f"t-{n}", "1.00", "2026-12-01")
    connector = _plaid(owner)
    batches = list(connector.list_changes({"transactions": ""}))
    assert [b.cursor for b in batches] == [{"transactions": ""}] * 3 + [{"transactions": "c3"}]


def test_test_connection_names_the_item(owner, plaid):
    assert _plaid(owner).test_connection() == f"Plaid item {ITEM_ID} (2 accounts)"


def test_item_login_required_asks_the_person_to_reconnect_through_link(owner, plaid):
    plaid.login_required.add(ITEM_ID)
    with pytest.raises(AuthError) as exc:
        list(_plaid(owner).list_changes(None))
    assert "sign in again" in str(exc.value)
    assert "Re-connect with Plaid" in exc.value.remediation


def test_a_revoked_access_token_is_an_auth_error(owner, plaid):
    with pytest.raises(AuthError, match="INVALID_ACCESS_TOKEN"):
        _plaid(owner, token="access-sandbox-unknown").test_connection()


def test_rate_limit_exceeded_is_a_rate_limit_with_a_wait(owner, plaid, fast_backoff, settings):
    settings.SYNC_MAX_TRANSIENT_RETRIES = 1
    body = {"error_type": "RATE_LIMIT_EXCEEDED", "error_code": "TRANSACTIONS_SYNC_LIMIT", "error_message": "x"}
    plaid.fail("POST", r"/transactions/sync$", 429, body, times=2)
    with pytest.raises(RateLimited) as exc:
        list(_plaid(owner).list_changes(None))
    assert exc.value.retry_after == 60.0
    assert len(plaid.requests("POST", r"/transactions/sync$")) == 2  # the HTTP client retried once


def test_internal_server_error_is_transient(owner, plaid, fast_backoff):
    body = {"error_type": "API_ERROR", "error_code": "INTERNAL_SERVER_ERROR", "error_message": "unexpected"}
    plaid.fail("POST", r"/item/get$", 500, body, times=10)
    with pytest.raises(TransientError, match="INTERNAL_SERVER_ERROR"):
        _plaid(owner).test_connection()


def test_missing_operator_keys_say_who_must_set_them(owner, plaid, settings):
    settings.PLAID_SECRET = ""
    with pytest.raises(ConfigError) as exc:
        _plaid(owner).test_connection()
    assert "PLAID_SECRET" in exc.value.remediation
    assert plaid.log == []


def test_operator_keys_never_reach_the_records(owner, plaid):
    plaid.add("t-1", "1.00", "2026-12-01")
    integration = _plaid(owner).ctx.integration
    sync(integration)
    stored = json.dumps([i.data for i in live_items(integration)])
    assert SECRET not in stored
    assert ACCESS_TOKEN not in stored
