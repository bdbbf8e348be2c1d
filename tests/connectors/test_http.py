"""The one outbound path, against a real local HTTP server: SSRF guard, retries by error class,
caps, shared rate limits and metrics."""

import itertools
import socket
import threading
import time

import pytest

from connectors import net
from connectors.errors import AuthError, BlockedDestination, ConfigError, RateLimited, ResponseTooLarge, TransientError
from connectors.http import HttpClient, OutboundPolicy
from integrations.models import RequestStat
from integrations.sync.ports import outbound_policy
from tests.factories import make_integration, make_type
from tests.peers.feeds import Reply
from tests.waiting import wait_for


@pytest.fixture
def client():
    http = HttpClient(OutboundPolicy(windows=[]))
    yield http
    http.close()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/",
        "http://localhost:{port}/",
        "http://2130706433:{port}/",  # decimal spelling of 127.0.0.1
        "http://0177.0.0.1:{port}/",  # octal
        "http://0x7f.0.0.1:{port}/",  # hex
        "http://127.1:{port}/",  # short form
        "http://[::1]:{port}/",
        "http://[::ffff:127.0.0.1]:{port}/",  # IPv4-mapped IPv6
        "http://10.0.0.5:{port}/",
        "http://192.168.1.1:{port}/",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://[fd00:ec2::254]/",  # AWS IPv6 metadata
        "http://0.0.0.0:{port}/",
    ],
)
def test_private_loopback_and_metadata_addresses_are_refused(client, feed_server, settings, url):
    settings.SSRF_ALLOWED_HOSTS = []  # the peer itself is not allowed in this test
    feed_server.serve("/", "secret internal page", content_type="text/plain")
    with pytest.raises(BlockedDestination, match="private or internal address"):
        client.get(url.format(port=feed_server.port))
    assert feed_server.log == []  # nothing reached the server


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://127.0.0.1:{port}/", "127.0.0.1 is a private address (loopback: the hub's own machine)"),
        ("http://localhost:{port}/", "localhost resolves to 127.0.0.1, a private address (loopback"),
        ("http://169.254.169.254/", "169.254.169.254 is a private address (the cloud provider's metadata service)"),
        ("http://10.0.0.5:{port}/", "10.0.0.5 is a private address (a private network)"),
    ],
)
def test_a_refusal_says_what_the_address_is_and_who_can_allow_it(client, feed_server, settings, url, says):
    settings.SSRF_ALLOWED_HOSTS = []
    with pytest.raises(BlockedDestination) as refused:
        client.get(url.format(port=feed_server.port))
    assert says in refused.value.message
    remediation = refused.value.remediation
    assert "ask the hub's administrator" in remediation
    assert "SSRF_ALLOWED_HOSTS" in remediation


def test_https_against_a_plain_http_server_is_explained_in_words_at_once(client, feed_server):
    """A webcal:// address becomes https://; a server that only speaks http answers garbage to TLS.
    A retry would meet the same server: the handshake is tried once, not retried with backoff."""
    feed_server.serve("/cal.ics", "BEGIN:VCALENDAR", content_type="text/calendar")
    waits = []
    client.policy.sleep = waits.append  # the policy's wait between attempts: none here
    with pytest.raises(ConfigError) as refused:
        client.get(feed_server.url("/cal.ics").replace("http://", "https://"))
    assert waits == []
    said = f"{refused.value.message} {refused.value.remediation}"
    assert "did not answer with a secure (TLS) connection" in said
    assert "enter the address with http://" in said
    for internals in ("SSL", "WRONG_VERSION", "_ssl.c", "Pool", "Max retries"):
        assert internals not in said


def test_allowlisted_host_and_port_is_reachable_but_not_other_spellings(client, feed_server):
    feed_server.serve("/", "hello", content_type="text/plain")
    assert client.get(feed_server.url("/")).text == "hello"
    with pytest.raises(BlockedDestination):
        client.get(f"http://2130706433:{feed_server.port}/")  # the allowlist matches the name as written


def test_redirect_to_a_loopback_address_is_refused(client, feed_server, settings):
    # The first hop is allowed (host:port), the redirect target is another port on 127.0.0.1.
    feed_server.sequence("/feed", [Reply(302, headers={"Location": "http://127.0.0.1:9/internal"})])
    with pytest.raises(BlockedDestination):
        client.get(feed_server.url("/feed"))


def test_redirect_to_an_internal_name_is_refused(client, feed_server):
    feed_server.sequence("/feed", [Reply(301, headers={"Location": "http://localhost:22/"})])
    with pytest.raises(BlockedDestination):
        client.get(feed_server.url("/feed"))


def test_the_resolved_address_is_pinned_against_dns_rebinding(client, feed_server, settings, monkeypatch):
    """A name that resolves to a public address when checked and to 127.0.0.1 right after must
    not reach 127.0.0.1: the guard resolves once and connects to what it checked."""
    settings.SSRF_ALLOWED_HOSTS = []
    settings.OUTBOUND_TIMEOUT = 1
    real_getaddrinfo = socket.getaddrinfo
    calls = []

    def rebinding_resolver(host, port, *args, **kwargs):
        if host != "rebind.example":
            return real_getaddrinfo(host, port, *args, **kwargs)
        calls.append(host)
        ip = "1.1.1.1" if len(calls) == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_resolver)  # the stdlib resolver, not our code
    feed_server.serve("/", "internal", content_type="text/plain")
    with pytest.raises(TransientError):  # it tried 1.1.1.1 (unreachable here), never 127.0.0.1
        HttpClient(OutboundPolicy(windows=[], max_retries=0)).get(f"http://rebind.example:{feed_server.port}/")
    assert calls == ["rebind.example"]
    assert feed_server.log == []


def test_unknown_host_is_a_config_error():
    with pytest.raises(ConfigError, match="could not be found"):
        net.resolve("no-such-host.invalid", 80)


def test_429_waits_for_retry_after_as_seen_by_the_peer(client, feed_server):
    feed_server.sequence(
        "/limited", [Reply(429, b"slow down", {"Retry-After": "1"}), Reply(200, b"ok", conditional=False)]
    )
    response = client.get(feed_server.url("/limited"))
    assert response.text == "ok"
    first, second = feed_server.requests_to("/limited")
    assert second.at - first.at >= 1.0


def test_429_beyond_the_longest_wait_is_reported_with_retry_after(client, feed_server, settings):
    settings.SYNC_MAX_WAIT = 5
    feed_server.sequence("/limited", [Reply(429, b"", {"Retry-After": "3600"})])
    with pytest.raises(RateLimited) as exc:
        HttpClient(OutboundPolicy(windows=[])).get(feed_server.url("/limited"))
    assert exc.value.retry_after == pytest.approx(3600, abs=5)
    assert len(feed_server.requests_to("/limited")) == 1


def test_5xx_backs_off_exponentially_then_succeeds(feed_server, settings):
    settings.SYNC_BACKOFF_BASE = 0.2
    feed_server.sequence("/flaky", [Reply(503), Reply(502), Reply(200, b"finally", conditional=False)])
    waits = []  # the waits asked for: what the elapsed time of a busy machine could only bound from below

    def sleep(seconds):
        waits.append(seconds)
        time.sleep(seconds)

    client = HttpClient(OutboundPolicy(windows=[], sleep=sleep))
    assert client.get(feed_server.url("/flaky")).text == "finally"
    times = [s.at for s in feed_server.requests_to("/flaky")]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) == 3
    assert len(waits) == 2
    assert 0.1 <= waits[0] <= 0.2  # half to all of the base
    assert 0.2 <= waits[1] <= 0.4  # the second wait is drawn from a doubled range
    assert gaps[0] >= waits[0]  # and the server saw them
    assert gaps[1] >= waits[1]


def test_5xx_retries_are_bounded(feed_server, settings):
    settings.SYNC_BACKOFF_BASE = 0.01
    settings.SYNC_MAX_TRANSIENT_RETRIES = 3
    feed_server.sequence("/down", [Reply(500)])
    with pytest.raises(TransientError, match="HTTP 500"):
        HttpClient(OutboundPolicy(windows=[])).get(feed_server.url("/down"))
    assert len(feed_server.requests_to("/down")) == 4


@pytest.mark.parametrize(("status", "says"), [(501, "cannot do what was asked"), (507, "out of storage space")])
def test_5xx_that_no_retry_can_change_are_not_retried(feed_server, settings, status, says):
    settings.SYNC_BACKOFF_BASE = 0.01
    feed_server.sequence("/full", [Reply(status)])
    with pytest.raises(ConfigError, match=f"{says} \\(HTTP {status}\\)"):  # not "temporary": no job retries it
        HttpClient(OutboundPolicy(windows=[])).get(feed_server.url("/full"))
    assert len(feed_server.requests_to("/full")) == 1


def test_posts_are_not_replayed_on_5xx(client, feed_server):
    feed_server.sequence("/hook", [Reply(500)])
    with pytest.raises(TransientError):
        client.post(feed_server.url("/hook"), json={"a": 1})
    assert len(feed_server.requests_to("/hook")) == 1


def test_auth_and_not_found_statuses_are_classified(client, feed_server):
    feed_server.sequence("/private", [Reply(401, b'{"error": "invalid_token"}')])
    feed_server.sequence("/forbidden", [Reply(403)])
    with pytest.raises(AuthError):
        client.get(feed_server.url("/private"))
    with pytest.raises(AuthError, match="denied access"):
        client.get(feed_server.url("/forbidden"))
    with pytest.raises(ConfigError, match="HTTP 404"):
        client.get(feed_server.url("/missing"))


def test_a_huge_response_is_cut_off_at_the_cap(feed_server, settings):
    settings.OUTBOUND_MAX_BYTES = 1024 * 1024
    feed_server.sequence("/huge", [Reply(200, stream_bytes=2 * 1024**3)])  # a "2 GB feed"
    with pytest.raises(ResponseTooLarge, match="over the 1 MB limit"):
        HttpClient(OutboundPolicy(windows=[])).get(feed_server.url("/huge"))
    (seen,) = feed_server.requests_to("/huge")
    # The client hung up: the server's writes fail and it stops, long before the 2 GB. What it
    # wrote is the megabyte read plus what the socket buffers held.
    wait_for(seen.answered.is_set, seconds=60, explain=lambda: f"still streaming after {seen.streamed} bytes")
    assert seen.streamed < 64 * 1024**2


def test_a_declared_huge_length_is_refused_before_download(client, feed_server, settings):
    settings.OUTBOUND_MAX_BYTES = 1024
    feed_server.serve("/big", b"x" * 4096, content_type="text/plain")
    with pytest.raises(ResponseTooLarge):
        HttpClient(OutboundPolicy(windows=[])).get(feed_server.url("/big"))


def test_a_hanging_server_times_out_as_transient(feed_server, settings):
    settings.OUTBOUND_TIMEOUT = 0.5
    settings.SYNC_BACKOFF_BASE = 0.01
    answer = threading.Event()  # the server answers only after the test: never within the timeout
    feed_server.sequence("/hang", [Reply(200, b"late", hold=answer)])
    try:
        with pytest.raises(TransientError):
            HttpClient(OutboundPolicy(windows=[], max_retries=1)).get(feed_server.url("/hang"))
    finally:
        answer.set()
    assert len(feed_server.requests_to("/hang")) == 2  # each try timed out, the retry included


def use_backend(settings, backend: str) -> None:
    """The rate-limit store under test: the database, or Redis (skipped when none is running)."""
    if backend == "redis":
        import redis

        url = settings.REDIS_URL or "redis://127.0.0.1:6379/15"
        try:
            redis.Redis.from_url(url, socket_connect_timeout=1).ping()
        except redis.RedisError as exc:
            from tests.peers.availability import unavailable

            unavailable(f"Redis is not reachable: {exc}")
        settings.REDIS_URL = url
    else:
        settings.REDIS_URL = ""


@pytest.mark.parametrize("backend", ["database", "redis"])
def test_rate_limit_window_is_shared_and_waits(owner, feed_server, settings, backend):
    use_backend(settings, backend)
    itype = make_type(f"limited-{backend}", burst_limit=2, burst_window_seconds=1)
    integration = make_integration(owner, itype)
    feed_server.serve("/r", "ok", content_type="text/plain")
    # Two clients for one integration (two workers) share one window.
    clients = [HttpClient(outbound_policy(integration)) for _ in range(2)]
    for i in range(6):
        clients[i % 2].get(feed_server.url("/r"))
    times = sorted(s.at for s in feed_server.requests_to("/r"))
    assert times[-1] - times[0] >= 2.0  # 6 requests at 2 per second need at least two full windows
    for i in range(len(times) - 2):
        assert times[i + 2] - times[i] >= 1.0  # never 3 inside one second, as the server counts


def test_requests_are_counted_per_integration(owner, feed_server):
    integration = make_integration(owner, make_type("metered"))
    feed_server.serve("/ok", "ok", content_type="text/plain")
    feed_server.sequence("/limited", [Reply(429, b"", {"Retry-After": "0"}), Reply(200, b"ok", conditional=False)])
    with HttpClient(outbound_policy(integration, windows=[])) as http:
        http.get(feed_server.url("/ok"))
        http.get(feed_server.url("/limited"))
        with pytest.raises(ConfigError):
            http.get(feed_server.url("/missing"))
    stat = RequestStat.objects.get(integration=integration)
    assert stat.requests == 4
    assert stat.errors == 2  # the 429 and the 404
    assert stat.rate_limited == 1
    assert stat.last_success_at is not None
    assert stat.average_ms >= 0


@pytest.fixture
def stalling_server(allow_host):
    """A raw HTTP server that sends its headers and the first part of the body, then goes quiet:
    the answer stalls mid-read (the feed peer can only hang before answering)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    connections = []

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            connections.append(conn)
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)

    threading.Thread(target=serve, daemon=True).start()
    allow_host(f"127.0.0.1:{port}")
    yield f"http://127.0.0.1:{port}/feed", connections
    listener.close()
    for conn in connections:
        conn.close()


def test_a_body_that_stalls_mid_read_is_a_clear_transient_timeout(stalling_server, settings):
    settings.OUTBOUND_TIMEOUT = 0.5
    settings.SYNC_BACKOFF_BASE = 0.01
    url, connections = stalling_server
    with pytest.raises(TransientError) as caught, HttpClient(OutboundPolicy(windows=[], max_retries=1)) as http:
        http.get(url)
    assert str(caught.value) == "127.0.0.1 stopped sending its answer halfway (nothing came for 0.5 s)."
    assert "Pool" not in caught.value.remediation
    assert len(connections) == 2  # an interrupted GET is tried again, within the bounded retries


def test_a_streamed_body_that_stalls_names_the_host(stalling_server, settings):
    settings.OUTBOUND_TIMEOUT = 0.5
    url, _connections = stalling_server
    with HttpClient(OutboundPolicy(windows=[], max_retries=0)) as http:
        response = http.get(url, stream=True)
        with pytest.raises(TransientError, match=r"^127\.0\.0\.1 stopped sending its answer halfway"):
            b"".join(http.stream_capped(response))
