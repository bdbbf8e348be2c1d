"""The shared rate limit is kept the way the provider counts: two connections on one token (or
one account) share one window; each connection has its own only where the provider says so."""

import pytest

from connectors.base import Connector
from connectors.http import HttpClient
from connectors.registry import registry
from integrations.sync.ports import outbound_policy, rate_limit_key
from tests.factories import make_integration, make_type


@registry.register("test_token_limited")
class TokenLimited(Connector):
    rate_limit_scope = "token"

    def test_connection(self):
        return "ok"


@registry.register("test_account_limited")
class AccountLimited(Connector):
    rate_limit_scope = "account"


@registry.register("test_app_limited")
class AppLimited(Connector):
    rate_limit_scope = "app"


def connection(owner, itype, *, token="", account="", name="c"):
    integration = make_integration(owner, itype, name=name, secrets={"token": token} if token else {})
    integration.account_identity = account
    integration.save(update_fields=["account_identity"])
    return integration


def key_of(integration):
    from integrations.models import Credential

    return rate_limit_key(integration, Credential.objects.filter(integration=integration).first())


def test_connections_on_one_token_share_a_key_that_does_not_hold_the_token(owner):
    itype = make_type("tokened", handler="test_token_limited", is_available=True)
    first = connection(owner, itype, token="secret-token-1", name="a")
    second = connection(owner, itype, token="secret-token-1", name="b")
    other = connection(owner, itype, token="secret-token-2", name="c")
    assert key_of(first) == key_of(second) != key_of(other)
    assert "secret-token" not in key_of(first)


def test_account_and_app_scopes(owner):
    by_account = make_type("accounted", handler="test_account_limited", is_available=True)
    a = connection(owner, by_account, account="Octocat", name="a")
    b = connection(owner, by_account, account="octocat", name="b")
    assert key_of(a) == key_of(b)
    unknown = connection(owner, by_account, name="c")  # no identity yet: counted on its own
    assert key_of(unknown) == f"integration:{unknown.pk}"

    by_app = make_type("apped", handler="test_app_limited", is_available=True)
    assert key_of(connection(owner, by_app, name="d")) == key_of(connection(owner, by_app, name="e")) == "app:apped"


def test_the_default_is_one_window_per_connection(owner):
    itype = make_type("plain", handler="")
    a, b = connection(owner, itype, name="a"), connection(owner, itype, name="b")
    assert key_of(a) != key_of(b)


@pytest.mark.parametrize("backend", ["database", "redis"])
def test_two_connections_on_one_token_together_stay_inside_the_providers_window(owner, feed_server, settings, backend):
    from tests.connectors.test_http import use_backend

    use_backend(settings, backend)
    itype = make_type(f"shared-{backend}", handler="test_token_limited", is_available=True, burst_limit=2,
                      burst_window_seconds=1)  # fmt: skip
    first = connection(owner, itype, token="same", name="a")
    second = connection(owner, itype, token="same", name="b")
    feed_server.serve("/r", "ok", content_type="text/plain")
    from integrations.models import Credential

    clients = [
        HttpClient(outbound_policy(i, Credential.objects.filter(integration=i).first())) for i in (first, second)
    ]
    for n in range(6):
        clients[n % 2].get(feed_server.url("/r"))
    times = sorted(s.at for s in feed_server.requests_to("/r"))
    for n in range(len(times) - 2):
        assert times[n + 2] - times[n] >= 1.0  # never 3 in one second, as the provider counts them
