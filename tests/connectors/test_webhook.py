"""The generic webhook output against a receiver written here, over real HTTP: the signature is
checked with the documented scheme, idempotency keys and custom headers arrive, and every
failure the receiver can answer is reported as the error class it means."""

import datetime
import hashlib
import hmac
import json
import time

import pytest

from connectors.base import OutgoingCard
from connectors.errors import AuthError, BlockedDestination, ConfigError, TransientError
from integrations.models import IntegrationType
from tests.fakes.contract import ContractFake, open_connector, seed_owner, step_config

SECRET = "whsec_7f3a9c"
TOLERANCE = 15 * 60


class Receiver(ContractFake):
    """What a developer would write from the connector's documentation: recompute the HMAC of
    "<timestamp>.<raw body>" and compare in constant time."""

    ROUTES = [("POST", r"/hooks/(?P<name>[\w-]+)", "receive")]

    def __init__(self, secret: str | None = SECRET):
        super().__init__()
        self.secret = secret
        self.accepted: list[dict] = []
        self.seen_deliveries: set[str] = set()

    def verifies(self, seen) -> bool:
        timestamp = seen.headers.get("X-Metacortex-Timestamp", "")
        signature = seen.headers.get("X-Metacortex-Signature", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE:
            return False
        mac = hmac.new(self.secret.encode(), timestamp.encode() + b"." + seen.body, hashlib.sha256)
        return hmac.compare_digest("sha256=" + mac.hexdigest(), signature)

    def receive(self, request, seen, name):
        if self.secret and not self.verifies(seen):
            return self.json({"error": "bad signature"}, status=401)
        delivery = seen.headers["X-Metacortex-Delivery"]
        if delivery not in self.seen_deliveries:  # the dedup a receiver does with the key
            self.seen_deliveries.add(delivery)
            self.accepted.append(seen.json)
        return self.json({"ok": True}, status=202)


@pytest.fixture
def owner(db):
    return seed_owner("webhook")


@pytest.fixture
def receiver(allow_host):
    fake = Receiver()
    allow_host(fake.host)
    yield fake
    fake.stop()


CARDS = [
    OutgoingCard(
        title="Rain tomorrow",
        markdown="Take an **umbrella** ☔",
        html="<p>Take an <strong>umbrella</strong> ☔</p>",
        url="https://example.com/weather",
        tags=["weather"],
        due=datetime.date(2026, 3, 1),
        data={"mm": 12.5},
        key="wf1:out1:card-a",
    ),
    OutgoingCard(title="Standup moved", markdown="Now at 10:00", key="wf1:out1:card-b"),
]


def _hook(owner, receiver, *, secret=SECRET, headers="", name="Hook"):
    secrets = {"url": f"{receiver.url}/hooks/team"}
    if secret:
        secrets["signing_secret"] = secret
    if headers:
        secrets["headers"] = headers  # a secret: it often carries the receiver's credentials
    return open_connector(owner, "webhook", secrets=secrets, name=name)


def test_the_webhook_type_is_available_and_registered(owner):
    itype = IntegrationType.objects.get(slug="webhook")
    assert itype.is_available
    assert itype.handler == "webhook"


def test_each_card_is_posted_signed_and_the_receiver_verifies_it(owner, receiver):
    hook = _hook(owner, receiver, headers="X-Source: metacortex\nX-Team: blue")
    delivery = hook.send(CARDS, step_config("webhook", "output"))

    assert delivery.delivered == 2
    assert [a["card"]["title"] for a in receiver.accepted] == ["Rain tomorrow", "Standup moved"]
    first = receiver.accepted[0]
    assert first["type"] == "card"
    assert first["card"]["markdown"] == "Take an **umbrella** ☔"
    assert first["card"]["due"] == "2026-03-01"
    assert first["card"]["data"] == {"mm": 12.5}
    seen = receiver.requests("POST")[0]
    assert seen.headers["Content-Type"] == "application/json; charset=utf-8"
    assert seen.headers["X-Source"] == "metacortex"
    assert seen.headers["X-Team"] == "blue"
    assert seen.headers["Idempotency-Key"] == seen.headers["X-Metacortex-Delivery"] == "wf1:out1:card-a"
    assert seen.headers["User-Agent"].startswith("MetaCortex/")
    assert json.loads(seen.body) == first  # the body is exactly what was signed


def test_a_tampered_body_or_another_secret_fails_verification(owner, receiver):
    hook = _hook(owner, receiver)
    hook.send(CARDS[:1], step_config("webhook", "output"))
    seen = receiver.requests("POST")[0]
    assert receiver.verifies(seen)
    tampered = type(seen)(**{**seen.__dict__, "body": seen.body.replace(b"umbrella", b"parasol")})
    assert not receiver.verifies(tampered)
    other = Receiver(secret="another secret")
    try:
        assert not other.verifies(seen)
    finally:
        other.stop()


def test_a_wrong_secret_is_refused_by_the_receiver_as_an_auth_error(owner, receiver):
    hook = _hook(owner, receiver, secret="not the receiver's secret")
    with pytest.raises(AuthError, match="refused the request \\(HTTP 401\\)") as exc:
        hook.send(CARDS, step_config("webhook", "output"))
    assert "signing secret" in exc.value.remediation
    assert receiver.accepted == []


def test_digest_mode_sends_all_cards_in_one_request_with_a_stable_key(owner, receiver):
    hook = _hook(owner, receiver)
    config = step_config("webhook", "output", payload="digest")
    assert hook.send(CARDS, config).delivered == 2
    hook.send(CARDS, config)  # the same run delivered again: same key, the receiver drops it

    posts = receiver.requests("POST")
    assert len(posts) == 2
    assert posts[0].headers["X-Metacortex-Delivery"] == posts[1].headers["X-Metacortex-Delivery"]
    assert len(receiver.accepted) == 1
    assert receiver.accepted[0]["type"] == "digest"
    assert receiver.accepted[0]["count"] == 2
    assert [c["key"] for c in receiver.accepted[0]["cards"]] == ["wf1:out1:card-a", "wf1:out1:card-b"]


def test_unsigned_hooks_send_no_signature(owner, allow_host):
    open_receiver = Receiver(secret=None)
    allow_host(open_receiver.host)
    try:
        hook = _hook(owner, open_receiver, secret=None)
        hook.send(CARDS[:1], step_config("webhook", "output"))
        assert "X-Metacortex-Signature" not in open_receiver.requests("POST")[0].headers
        assert len(open_receiver.accepted) == 1
    finally:
        open_receiver.stop()


def test_a_429_is_waited_out_then_delivered(owner, receiver):
    receiver.fail("POST", "/hooks/", 429, "slow down", {"Retry-After": "1"})
    hook = _hook(owner, receiver)
    assert hook.send(CARDS[:1], step_config("webhook", "output")).delivered == 1
    first, second = receiver.requests("POST")
    assert second.at - first.at >= 1.0
    assert len(receiver.accepted) == 1


def test_a_5xx_is_retried_with_the_same_delivery_key(owner, receiver, fast_backoff):
    receiver.fail("POST", "/hooks/", 502, "bad gateway", times=2)
    hook = _hook(owner, receiver)
    assert hook.send(CARDS[:1], step_config("webhook", "output")).delivered == 1
    posts = receiver.requests("POST")
    assert len(posts) == 3
    assert {p.headers["X-Metacortex-Delivery"] for p in posts} == {"wf1:out1:card-a"}
    assert len(receiver.accepted) == 1


def test_a_receiver_that_stays_down_is_a_transient_error_after_bounded_retries(owner, receiver, fast_backoff):
    receiver.fail("POST", "/hooks/", 503, "down", times=20)
    hook = _hook(owner, receiver)
    with pytest.raises(TransientError, match="HTTP 503"):
        hook.send(CARDS[:1], step_config("webhook", "output"))
    assert len(receiver.requests("POST")) == 1 + fast_backoff.SYNC_MAX_TRANSIENT_RETRIES


def test_partial_delivery_is_reported_not_hidden(owner, receiver, fast_backoff):
    hook = _hook(owner, receiver)
    # Card one is accepted; card two hits a receiver that keeps failing.
    original = receiver.receive

    def second_fails(request, seen, name):
        if seen.json["card"]["key"] == "wf1:out1:card-b":
            return receiver.json({"error": "gone"}, status=410)
        return original(request, seen, name)

    receiver.receive = second_fails
    with pytest.raises(AuthError, match="1 of 2 cards were delivered before this error") as exc:
        hook.send(CARDS, step_config("webhook", "output"))
    assert "hook is gone" in str(exc.value)
    assert exc.value.delivery.delivered == 1
    assert exc.value.delivery.external_ids == ["wf1:out1:card-a"]


def test_a_redirect_is_not_followed_with_a_get(owner, receiver):
    receiver.fail("POST", "/hooks/", 301, "", {"Location": "https://example.com/new-hook"})
    hook = _hook(owner, receiver)
    with pytest.raises(ConfigError, match="redirected") as exc:
        hook.send(CARDS[:1], step_config("webhook", "output"))
    assert "final address" in exc.value.remediation
    assert len(receiver.log) == 1


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ("Host: evil.example", "Host header is set by the hub"),
        ("Content-Length: 5", "Content-Length header is set by the hub"),
        ("Transfer-Encoding: chunked", "set by the hub"),
        ("X-MetaCortex-Signature: sha256=forged", "set by the hub"),
        ("no colon here", 'line 1 is not a "Name: value" header'),
        ("X-Team: blue\nBad Name: x", 'line 2 is not a "Name: value" header'),
    ],
)
def test_refused_custom_headers_say_which_line(owner, receiver, headers, message):
    hook = _hook(owner, receiver, headers=headers)
    with pytest.raises(ConfigError, match=message) as exc:
        hook.send(CARDS[:1], step_config("webhook", "output"))
    assert exc.value.field == "headers"
    assert receiver.log == []


def test_a_malformed_header_line_is_never_quoted_back(owner, receiver):
    # The headers are a secret: a missing colon must not put the token into an error message.
    hook = _hook(owner, receiver, headers="Authorization Bearer rcv_live_do_not_echo")
    with pytest.raises(ConfigError) as exc:
        hook.send(CARDS[:1], step_config("webhook", "output"))
    assert "rcv_live_do_not_echo" not in f"{exc.value.message} {exc.value.remediation}"


def test_a_private_address_is_refused_without_the_allowlist(owner, settings):
    fake = Receiver()
    try:
        settings.SSRF_ALLOWED_HOSTS = []
        hook = _hook(owner, fake)
        with pytest.raises(BlockedDestination):
            hook.send(CARDS[:1], step_config("webhook", "output"))
        with pytest.raises(BlockedDestination):
            hook.test_connection()
        assert fake.log == []
    finally:
        fake.stop()


def test_test_connection_checks_the_address_without_posting(owner, receiver):
    hook = _hook(owner, receiver)
    assert hook.test_connection() == "127.0.0.1 (signed; address checked, no request sent)"
    assert receiver.log == []


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        # urlsplit reads host example.com here; requests (urllib3) connects to 127.0.0.1.
        ("{receiver}\\@example.com/hooks/team", "must not contain a backslash"),
        ("http://example.com@{receiver_host}/hooks/team", "must not contain a user name or password"),
        ("http://user:pw@example.com/hooks/team", "must not contain a user name or password"),
    ],
)
def test_an_address_the_parsers_read_differently_is_refused_when_saved(owner, settings, address, problem):
    from integrations import connections

    fake = Receiver()
    try:
        # Even with the decoy host allowlisted, nothing is saved and nothing reaches the receiver.
        settings.SSRF_ALLOWED_HOSTS = ["example.com"]
        data = {
            "name": "Sneaky",
            "url": address.format(receiver=fake.url, receiver_host=fake.url.split("//")[1]),
            "payload": "cards",
        }
        with pytest.raises(connections.Problem) as refused:
            connections.connect(owner, IntegrationType.objects.get(slug="webhook"), data)
        assert refused.value.field == "url"
        assert problem in refused.value.message
        assert fake.log == []
    finally:
        fake.stop()


def test_a_stored_address_with_a_backslash_is_refused_before_any_request(owner, receiver):
    hook = open_connector(owner, "webhook", secrets={"url": f"{receiver.url}\\@example.com/x"})
    for attempt in (hook.test_connection, lambda: hook.send(CARDS[:1], step_config("webhook", "output"))):
        with pytest.raises(ConfigError) as refused:
            attempt()
        assert refused.value.field == "url"
        assert "backslash" in refused.value.message
    assert receiver.log == []


def test_a_due_time_without_a_zone_is_sent_with_the_persons_offset(owner, receiver):
    """A receiver cannot guess the zone of "2026-07-02T15:30:00": a due time without one is the
    person's own hour and is sent with its offset."""
    from integrations.models import UserPreferences

    UserPreferences.objects.update_or_create(user=owner, defaults={"time_zone": "America/New_York"})
    card = OutgoingCard(title="Dentist", due=datetime.datetime(2026, 7, 2, 15, 30), key="dentist")
    _hook(owner, receiver).send([card], step_config("webhook", "output"))
    assert receiver.accepted[0]["card"]["due"] == "2026-07-02T15:30:00-04:00"
