"""YNAB against its contract fake over real HTTP: budgets, accounts, categories and transactions
read with delta requests (last_knowledge_of_server), milliunits converted exactly, deletions
applied, the hourly limit expressed in the blueprint, and each error class with its own fix."""

import datetime
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.urls import reverse

from connectors.errors import AuthError, ConfigError, RateLimited, TransientError
from connectors.ynab import money
from integrations.models import Credential, Integration, IntegrationType, JobStatus, OAuthApp
from tests.connectors.helpers import live_items, sync
from tests.fakes.contract import open_connector, seed_owner
from tests.fakes.ynab import ACCOUNT_ID, BUDGET_ID, CLIENT_ID, CLIENT_SECRET, OTHER_BUDGET_ID, TOKEN, YnabFake


@pytest.fixture
def owner(db):
    return seed_owner("ynab", "ynab-oauth")


@pytest.fixture
def ynab(allow_host, settings):
    fake = YnabFake()
    allow_host(fake.host)
    settings.CONNECTOR_API_BASES = {"ynab": f"{fake.url}/v1"}
    yield fake
    fake.stop()


def _ynab(owner, token=TOKEN, **config):
    return open_connector(owner, "ynab", secrets={"token": token}, config={"window_days": 30, **config})


def _recent(days_ago: int) -> str:
    return (datetime.date.today() - datetime.timedelta(days=days_ago)).isoformat()


@pytest.mark.parametrize(
    ("milliunits", "digits", "text"),
    [
        (-12340, 2, "-12.34"),
        (1234560, 2, "1234.56"),
        (0, 2, "0.00"),
        (-5, 2, "-0.005"),  # a third digit is kept rather than rounded away
        (1500000, 0, "1500"),  # JPY
        (123456789012345678, 2, "123456789012345.678"),  # beyond a float's precision
        ("-990", 2, "-0.99"),
    ],
)
def test_milliunits_become_exact_decimal_strings(milliunits, digits, text):
    assert money(milliunits, digits) == text
    assert Decimal(text) * 1000 == Decimal(int(milliunits))


def test_a_float_amount_is_refused_not_rounded():
    with pytest.raises(ValueError, match="not whole milliunits"):
        money(12.34)


def test_ynab_is_available_with_its_hourly_limit(owner):
    itype = IntegrationType.objects.get(slug="ynab")
    assert (itype.is_available, itype.handler) == (True, "ynab")
    # 200 per rolling hour per token: a window of 3,600 s, with a few requests in hand.
    assert (itype.burst_limit, itype.burst_window_seconds) == (190, 3600)
    assert itype.rate_limit_per_minute is None


def test_a_first_sync_reads_the_budget_and_converts_amounts_exactly(owner, ynab):
    ynab.add_transaction("t-1", _recent(3), -12340, payee="Grocer", memo="weekly", cleared="uncleared")
    ynab.add_transaction("t-old", _recent(400), -1000, payee="Long ago")
    integration = _ynab(owner).ctx.integration
    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED
    by_id = {i.external_id: i for i in live_items(integration)}
    assert set(by_id) == {
        f"budget:{BUDGET_ID}",
        f"budget:{OTHER_BUDGET_ID}",
        f"account:{ACCOUNT_ID}",
        "category:cat-groceries",
        "transaction:t-1",
    }
    tx = by_id["transaction:t-1"]
    assert tx.kind == "transaction"
    assert {
        k: tx.data[k]
        for k in (
            "amount",
            "currency",
            "date",
            "account",
            "account_id",
            "payee",
            "category",
            "memo",
            "status",
            "transaction_id",
        )
    } == {
        "amount": "-12.34",
        "currency": "USD",
        "date": _recent(3),
        "account": "Checking",
        "account_id": ACCOUNT_ID,
        "payee": "Grocer",
        "category": "Groceries",
        "memo": "weekly",
        "status": "pending",
        "transaction_id": "t-1",
    }
    assert tx.occurred_at == datetime.datetime.combine(
        datetime.date.fromisoformat(_recent(3)), datetime.time(), datetime.UTC
    )
    assert by_id[f"account:{ACCOUNT_ID}"].data["balance"] == "1234.56"
    assert by_id["category:cat-groceries"].data["activity"] == "-123.45"
    assert by_id["category:cat-groceries"].data["group"] == "Everyday"
    # "last-used" resolved to the budget modified last; only the first sync asks for since_date.
    (tx_request,) = ynab.requests("GET", r"/transactions$")
    assert tx_request.path == f"/v1/budgets/{BUDGET_ID}/transactions"
    assert tx_request.args == {"since_date": _recent(30)}
    assert integration.sync_cursor["transactions"] == ynab.knowledge


def test_the_next_sync_asks_only_for_changes_and_applies_deletions(owner, ynab):
    ynab.add_transaction("t-1", _recent(3), -12340)
    ynab.add_transaction("t-2", _recent(2), 250000, payee="Employer")
    integration = _ynab(owner).ctx.integration
    sync(integration)
    knowledge = ynab.knowledge
    ynab.update_transaction("t-1", amount=-13000, cleared="reconciled")
    ynab.delete_transaction("t-2")
    ynab.add_transaction("t-3", _recent(1), -999)
    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED
    assert (job.created, job.updated, job.deleted) == (1, 1, 1)
    for path in ("accounts", "categories", "transactions"):
        asked = ynab.requests("GET", rf"/{path}$")[-1].args
        assert asked == {"last_knowledge_of_server": str(knowledge)}
    items = {i.external_id: i.data for i in live_items(integration).filter(kind="transaction")}
    assert set(items) == {"transaction:t-1", "transaction:t-3"}
    assert (items["transaction:t-1"]["amount"], items["transaction:t-1"]["status"]) == ("-13.00", "posted")
    assert items["transaction:t-3"]["amount"] == "-0.999"


def test_a_budget_deleted_in_ynab_is_deleted_here(owner, ynab):
    integration = _ynab(owner).ctx.integration
    sync(integration)
    ynab.deleted_budgets.add(OTHER_BUDGET_ID)
    job = sync(integration)
    assert job.deleted == 1
    assert not live_items(integration).filter(external_id=f"budget:{OTHER_BUDGET_ID}").exists()


def test_split_transactions_keep_their_parts_in_exact_amounts(owner, ynab):
    splits = [
        {
            "id": "s1",
            "amount": -10010,
            "payee_name": None,
            "category_name": "Groceries",
            "memo": "food",
            "deleted": False,
        },
        {"id": "s2", "amount": -2330, "payee_name": None, "category_name": "Home", "memo": None, "deleted": False},
    ]
    ynab.add_transaction("t-split", _recent(1), -12340, subtransactions=splits, category_name="Split")
    connector = _ynab(owner)
    raws = [raw for batch in connector.list_changes(None) for raw in batch.items if raw["_type"] == "transaction"]
    record = connector.transform(raws[0])
    assert [s["amount"] for s in record.data["subtransactions"]] == ["-10.01", "-2.33"]
    assert sum(Decimal(s["amount"]) for s in record.data["subtransactions"]) == Decimal(record.data["amount"])


def test_a_named_budget_is_read_in_its_own_currency(owner, ynab):
    ynab.add_transaction("t-1", _recent(1), -5000)
    integration = _ynab(owner, budget_id=OTHER_BUDGET_ID).ctx.integration
    sync(integration)
    tx = live_items(integration).get(kind="transaction")
    assert (tx.data["amount"], tx.data["currency"]) == ("-5.00", "EUR")
    assert ynab.requests("GET", r"/transactions$")[0].path == f"/v1/budgets/{OTHER_BUDGET_ID}/transactions"


def test_test_connection_names_the_budget(owner, ynab):
    assert _ynab(owner).test_connection() == "YNAB user user-1, budget Household"


def test_an_unknown_budget_id_names_the_field(owner, ynab):
    with pytest.raises(ConfigError, match="no budget with the ID nope") as exc:
        _ynab(owner, budget_id="nope").test_connection()
    assert exc.value.field == "budget_id"


def test_401_asks_for_a_new_token(owner, ynab):
    with pytest.raises(AuthError) as exc:
        _ynab(owner, token="revoked").test_connection()
    assert exc.value.field == "token"
    assert "new personal access token" in exc.value.remediation


def test_403_says_what_ynab_refused(owner, ynab):
    ynab.fail(
        "GET",
        r"/v1/budgets$",
        403,
        {
            "error": {
                "id": "403.1",
                "name": "subscription_lapsed",
                "detail": "Subscription for this account has lapsed.",
            }
        },
    )
    with pytest.raises(AuthError, match="lapsed") as exc:
        _ynab(owner).test_connection()
    assert "subscription" in exc.value.remediation


def test_404_points_at_the_budget_id(owner, ynab):
    ynab.fail(
        "GET",
        r"/accounts$",
        404,
        {"error": {"id": "404.2", "name": "resource_not_found", "detail": "Resource not found"}},
    )
    with pytest.raises(ConfigError, match="no such budget") as exc:
        list(_ynab(owner).list_changes(None))
    assert exc.value.field == "budget_id"


def test_429_is_a_rate_limit_with_a_wait(owner, ynab, fast_backoff, settings):
    settings.SYNC_MAX_TRANSIENT_RETRIES = 1
    ynab.served = ynab.HOURLY_LIMIT  # the token's hour is used up elsewhere
    with pytest.raises(RateLimited) as exc:
        _ynab(owner).test_connection()
    assert exc.value.retry_after >= 60
    assert len(ynab.requests("GET", r"/v1/user$")) == 2  # the HTTP client retried once before giving up


def test_5xx_is_transient_and_retried(owner, ynab, fast_backoff):
    ynab.fail("GET", r"/v1/user$", 503, {"error": {"id": "503", "name": "service_unavailable", "detail": "down"}})
    assert _ynab(owner).test_connection().startswith("YNAB user")
    ynab.fail(
        "GET", r"/v1/user$", 500, {"error": {"id": "500", "name": "internal_server_error", "detail": "x"}}, times=10
    )
    with pytest.raises(TransientError):
        _ynab(owner).test_connection()


def test_signing_in_with_oauth_then_syncing_with_refreshed_tokens(owner, ynab, client, settings, monkeypatch):
    """The hub's OAuth flow against YNAB's shapes (read-only scope, PKCE passed through, two-hour
    tokens), the OAuth app's API base used without any override, and an expired access token
    renewed with the (rotated) refresh token in the middle of a sync."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the fake speaks plain http on 127.0.0.1
    settings.SITE_URL, settings.OAUTH_REDIRECT_URI = "http://127.0.0.1:8000", ""
    settings.CONNECTOR_API_BASES = {}
    OAuthApp.objects.create(
        integration_type=IntegrationType.objects.get(slug="ynab-oauth"),
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        authorize_url=f"{ynab.url}/oauth/authorize",
        token_url=f"{ynab.url}/oauth/token",
        api_base_url=f"{ynab.url}/v1",
    )
    client.force_login(owner)
    start = client.post(reverse("oauth:start", args=["ynab-oauth"]), {"name": "Household budget"})
    assert start.status_code == 302, start.content[:300]
    asked = parse_qs(urlsplit(start["Location"]).query)
    assert asked["scope"] == ["read-only"]
    allowed = requests.get(start["Location"], allow_redirects=False, timeout=10)  # the user clicks "Authorize"
    back = urlsplit(allowed.headers["Location"])
    assert client.get(f"{back.path}?{back.query}").status_code == 302

    integration = Integration.objects.get(type__slug="ynab-oauth", user=owner)
    assert integration.account_identity == "YNAB user user-1, budget Household"
    credential = Credential.objects.get(integration=integration)
    assert credential.refresh_token
    assert credential.expires_at is not None
    first_refresh = credential.refresh_token

    ynab.add_transaction("t-1", _recent(1), -4200)
    ynab.expire(credential.access_token)  # two hours later
    job = sync(integration)
    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert live_items(integration).get(kind="transaction").data["amount"] == "-4.20"
    credential.refresh_from_db()
    assert credential.refresh_token != first_refresh  # rotated
    assert first_refresh not in ynab.refresh_tokens


def test_a_revoked_sign_in_asks_to_sign_in_again(owner, ynab, monkeypatch):
    from tests.factories import make_integration

    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    itype = IntegrationType.objects.get(slug="ynab-oauth")
    OAuthApp.objects.create(
        integration_type=itype, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
        authorize_url=f"{ynab.url}/oauth/authorize", token_url=f"{ynab.url}/oauth/token",
    )  # fmt: skip
    integration = make_integration(owner, itype, name="Revoked", config={"window_days": 30})
    Credential.objects.create(integration=integration, access_token="ynab-at-revoked", refresh_token="ynab-rt-gone")
    job = sync(integration)
    assert job.status == JobStatus.FAILED
    assert (job.error_class, "invalid_grant" in job.error_message) == ("auth", True)
    assert job.remediation.startswith("Re-authenticate YNAB (sign in) from its page")


def test_a_token_refused_even_after_a_refresh_asks_to_sign_in_again(owner, ynab, monkeypatch):
    from tests.factories import make_integration

    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    itype = IntegrationType.objects.get(slug="ynab-oauth")
    OAuthApp.objects.create(
        integration_type=itype, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
        authorize_url=f"{ynab.url}/oauth/authorize", token_url=f"{ynab.url}/oauth/token",
    )  # fmt: skip
    ynab.refresh_tokens["ynab-rt-valid"] = "read-only"
    integration = make_integration(owner, itype, name="Refused", config={"window_days": 30})
    Credential.objects.create(integration=integration, access_token="ynab-at-stale", refresh_token="ynab-rt-valid")
    ynab.fail("GET", r"/v1/budgets$", 401, {"error": {"id": "401", "name": "unauthorized", "detail": "Unauthorized"}})
    ynab.fail("GET", r"/v1/budgets$", 401, {"error": {"id": "401", "name": "unauthorized", "detail": "Unauthorized"}})
    job = sync(integration)
    assert (job.status, job.error_class) == (JobStatus.FAILED, "auth")
    assert job.remediation.startswith("Sign in to YNAB again")
    assert len(ynab.requests("POST", r"/oauth/token$")) == 1  # refreshed once, then told the user


def test_a_last_used_budget_that_switches_keeps_the_earlier_budgets_records_and_says_so(owner, ynab):
    """ "last-used" follows the budget the person uses now. The earlier budget's records are the
    person's history (each names its budget_id, YNAB's ids are unique across budgets): they stay,
    but are no longer refreshed, and the sync says so once, naming both budgets and the fix."""
    ynab.add_transaction("t-1", _recent(3), -12340)
    integration = _ynab(owner).ctx.integration
    assert sync(integration).status == JobStatus.SUCCEEDED
    assert integration.sync_cursor["budget"] == BUDGET_ID

    ynab.default_budget = OTHER_BUDGET_ID  # the person now uses their other budget
    job = sync(integration)

    assert integration.sync_cursor["budget"] == OTHER_BUDGET_ID
    assert job.deleted == 0
    assert live_items(integration).filter(external_id="transaction:t-1").exists()
    assert "'Household'" in job.remediation
    assert "'Old budget'" in job.remediation
    assert "no longer updated" in job.remediation
    assert BUDGET_ID in job.remediation  # the ID to set to keep following the earlier budget

    assert sync(integration).status == JobStatus.SUCCEEDED  # said once, not at every sync
