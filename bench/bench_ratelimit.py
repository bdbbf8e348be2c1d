"""Shared rate limiter: how much of each catalogue burst window the hub uses, and how many
requests the provider (a local server timestamping arrivals) sees over its limit.

A slot is dated again when its answer arrives (connectors.ratelimit), so the only throughput given
up is one round trip per window, never a fixed margin. Per-minute windows lose the same round trip
over 60 s, less than any burst window measured here."""

import time

from django.conf import settings

from tests.peers.feeds import FeedServer

ROUNDS = 3  # windows filled in a row


def _integration(limit: int, seconds: int):
    from django.contrib.auth import get_user_model

    from integrations.models import Integration, IntegrationType

    user, _ = get_user_model().objects.get_or_create(username="bench", defaults={"email": "bench@example.com"})
    slug = f"bench-limit-{limit}-{seconds}"
    itype, _ = IntegrationType.objects.update_or_create(
        slug=slug,
        defaults=dict(display_name=slug, category="source", domain="web", description="bench", icon="x.svg",
                      auth_kind="none", burst_limit=limit, burst_window_seconds=seconds, rate_limit_per_minute=None),
    )  # fmt: skip
    Integration.objects.filter(user=user, name=slug).delete()
    return Integration.objects.create(user=user, type=itype, name=slug, status="connected")


def _over(times: list[float], limit: int, seconds: float) -> int:
    """Requests that arrived while `limit` others had arrived in the `seconds` before them."""
    return sum(1 for i in range(limit, len(times)) if times[i] - times[i - limit] < seconds)


def run(report):
    from connectors.http import HttpClient
    from integrations.sync.ports import outbound_policy

    windows = sorted({(4, 1), (4, 2), (1, 1), (100, 10)})  # the catalogue's burst windows
    server = FeedServer()
    settings.SSRF_ALLOWED_HOSTS = [server.host]
    store = "Redis" if settings.REDIS_URL else "database"
    try:
        for limit, seconds in windows:
            path = f"/r{limit}-{seconds}"
            server.serve(path, "ok", content_type="text/plain")
            client = HttpClient(outbound_policy(_integration(limit, seconds), windows=None))
            count = limit * (ROUNDS + 1)  # the first window's requests go at once, then ROUNDS windows
            started = time.monotonic()
            for _ in range(count):
                client.get(server.url(path))
            elapsed = time.monotonic() - started
            times = sorted(seen.at for seen in server.requests_to(path))
            # Request i may arrive no sooner than `seconds` after request i - limit: the mean of those
            # gaps against the window is the share of the provider's allowance the hub really used.
            gaps = [times[i] - times[i - limit] for i in range(limit, len(times))]
            used = seconds / (sum(gaps) / len(gaps))
            report.add(
                scenario=f"rate limit {limit}/{seconds:g}s ({store}): share of the window used",
                ours=used * 100,
                unit="%",
                target=">= 95 %, 0 over",
                met=used >= 0.95 and _over(times, limit, seconds) == 0,
                note=f"{count} requests in {elapsed:.2f} s; {_over(times, limit, seconds)} over the provider's window",
            )
    finally:
        server.stop()
