"""The JSON API and My integrations for a big account, on the bench database (PostgreSQL unless
BENCH_DATABASE_URL says otherwise): a person with 200 integrations and 100k synced items.

- GET /api/v1/integrations (Bearer token) against /healthz (a trivial Django view: one SELECT 1)
  on the same gunicorn server, started as in the Procfile (same workers, a free port), at
  concurrency 8. The load comes from wrk (C, from apt) where it is installed: a client in Python
  on the same two cores took about as much CPU per request as the trivial view itself, capping its
  throughput at the client's (which flattered the ratio) and adding the client's own GIL queue
  to every latency. Without wrk: 8 threads with keep-alive requests sessions, and the table says
  so. Both contenders run interleaved in the same rounds; the throughput ratio is the median of
  the per-round ratios, p99 the median of the rounds' p99 (wrk) or of all latencies (threads).
  Targets: at least 25% of the trivial view's throughput, p99 under 50 ms.
- "My integrations" with 200 integrations: median server time through the whole Django stack
  (the test client, in process), target under 50 ms.

Smaller runs: BENCH_API_INTEGRATIONS, BENCH_API_ITEMS, BENCH_API_REQUESTS (per contender per
round, threads) or BENCH_API_SECONDS (per contender per round, wrk), BENCH_API_ROUNDS;
BENCH_API_CLIENT=threads uses the Python client even where wrk is installed."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INTEGRATIONS = int(os.environ.get("BENCH_API_INTEGRATIONS", "200"))
ITEMS = int(os.environ.get("BENCH_API_ITEMS", "100000"))
REQUESTS = int(os.environ.get("BENCH_API_REQUESTS", "400"))
ROUNDS = int(os.environ.get("BENCH_API_ROUNDS", "5"))
SECONDS = int(os.environ.get("BENCH_API_SECONDS", "5"))
WRK = None if os.environ.get("BENCH_API_CLIENT") == "threads" else shutil.which("wrk")
CONCURRENCY = 8
RENDERS = 30


def _account():
    """The person, their integrations and items (created once per bench database), and a token."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from integrations import counts
    from integrations.models import ApiToken, Integration, IntegrationType, Status, SyncedItem

    user, _ = get_user_model().objects.get_or_create(username="bench-api", defaults={"email": "bench-api@example.com"})
    have = Integration.objects.filter(user=user).count()
    if have != INTEGRATIONS or SyncedItem.objects.filter(user=user).count() != ITEMS:
        Integration.objects.filter(user=user).delete()
        SyncedItem.objects.filter(user=user).delete()
        types = list(IntegrationType.objects.order_by("pk"))
        made = Integration.objects.bulk_create(
            Integration(
                user=user,
                type=types[n % len(types)],
                name=f"Integration {n:03}",
                status=Status.NEEDS_REAUTH if n % 25 == 0 else Status.CONNECTED,
            )
            for n in range(INTEGRATIONS)
        )
        now = timezone.now()
        batch = []
        for n in range(ITEMS):
            integration = made[n % len(made)]
            batch.append(
                SyncedItem(
                    user=user,
                    integration=integration,
                    kind="event",
                    external_id=f"bench-{n}",
                    title=f"Event {n}",
                    content_hash="x",
                    source_type=types[(n % len(made)) % len(types)].slug,
                    fetched_at=now,
                    occurred_at=now - timedelta(minutes=n),
                    deleted_at=now if n % 50 == 0 else None,
                )
            )
            if len(batch) == 5000:
                SyncedItem.objects.bulk_create(batch)
                batch = []
        if batch:
            SyncedItem.objects.bulk_create(batch)
        counts.recount(Integration.objects.filter(user=user))
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE integrations_synceditem")
                cursor.execute("ANALYZE integrations_integration")
    ApiToken.objects.filter(user=user).delete()
    _token, plain = ApiToken.issue(user, "bench")
    return user, plain


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _web_command(port: int) -> list[str]:
    """The Procfile's web command (its gunicorn part, the same workers and options), on `port`."""
    line = next(x for x in (ROOT / "Procfile").read_text().splitlines() if x.startswith("web:"))
    gunicorn = line.split("exec ", 1)[1]
    gunicorn = gunicorn.replace("${HOST:-127.0.0.1}", "127.0.0.1").replace("${PORT:-8000}", str(port))
    gunicorn = gunicorn.replace("${WEB_CONCURRENCY:-2}", os.environ.get("WEB_CONCURRENCY", "2"))
    args = shlex.split(gunicorn)
    args[0] = str(Path(sys.executable).with_name("gunicorn"))
    return args


def _collected_static() -> None:
    """The server runs as deployed (manifest static storage): collectstatic first, as a release does."""
    from django.conf import settings
    from django.core.management import call_command

    if not (Path(settings.STATIC_ROOT) / "staticfiles.json").exists():
        call_command("collectstatic", interactive=False, verbosity=0)


def _start_server(port: int) -> subprocess.Popen:
    import requests

    _collected_static()

    log = Path(os.environ.get("BENCH_WORKDIR", "/tmp")) / "bench-api-gunicorn.log"
    with log.open("wb") as out:  # the access log is not read: a file, never a pipe that could fill
        server = subprocess.Popen(  # our own command line, from the Procfile
            _web_command(port), cwd=ROOT, env=os.environ.copy(), stdout=out, stderr=out, start_new_session=True
        )
    server.log = log
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn stopped: {log.read_text()[-2000:]}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return server
        except requests.RequestException:
            time.sleep(0.2)
    _stop(server)
    raise RuntimeError("gunicorn did not answer /healthz within 60 s")


def _stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _load(url: str, headers: dict, total: int) -> tuple[float, list[float]]:
    """`total` GETs from CONCURRENCY threads, each with its own keep-alive session: (requests per
    second, each request's latency)."""
    import requests

    latencies: list[float] = []
    lock = threading.Lock()
    left = [total]
    failures = []

    def worker():
        with requests.Session() as session:
            session.headers.update(headers)
            mine = []
            while True:
                with lock:
                    if left[0] <= 0:
                        break
                    left[0] -= 1
                start = time.perf_counter()
                response = session.get(url, timeout=30)
                mine.append(time.perf_counter() - start)
                if response.status_code != 200:
                    failures.append(response.status_code)
            with lock:
                latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(CONCURRENCY)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if failures:
        raise RuntimeError(f"{len(failures)} failed requests to {url}: {sorted(set(failures))}")
    return total / elapsed, latencies


_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def _load_wrk(url: str, headers: dict, seconds: int) -> tuple[float, float]:
    """wrk for `seconds` with CONCURRENCY connections on 2 threads: (requests per second, p99 s)."""
    command = [WRK, "-t2", f"-c{CONCURRENCY}", f"-d{seconds}s", "--latency", "--timeout", "30s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    done = subprocess.run([*command, url], capture_output=True, text=True, timeout=seconds + 60, check=False)
    out = done.stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.MULTILINE)
    if done.returncode or not rate or not p99:
        raise RuntimeError(f"wrk failed against {url}:\n{out}\n{done.stderr}")
    failed = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: .*", out)
    if failed or errors:
        raise RuntimeError(f"wrk saw failed requests to {url}: {(failed or errors).group(0)}")
    return float(rate.group(1)), float(p99.group(1)) * _UNITS[p99.group(2)]


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def _mine_median(user) -> float:
    from django.test import Client
    from django.test.utils import override_settings
    from django.urls import reverse

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    url = reverse("integrations:mine")
    with override_settings(
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
    ):
        assert client.get(url).status_code == 200  # warm: templates compiled, session loaded
        times = []
        for _ in range(RENDERS):
            start = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - start)
            assert response.status_code == 200
    return statistics.median(times)


def run(report):
    from django.db import connection

    from integrations.models import SyncedItem

    user, token = _account()
    engine = connection.vendor
    in_table = SyncedItem.objects.count()
    connection.close()  # the server's workers open their own

    port = _free_port()
    server = _start_server(port)
    try:
        api_url = f"http://127.0.0.1:{port}/api/v1/integrations"
        trivial_url = f"http://127.0.0.1:{port}/healthz"
        auth = {"Authorization": f"Bearer {token}"}
        _load(api_url, auth, CONCURRENCY * 4)  # warm: every worker's connection and the catalogue cache
        _load(trivial_url, {}, CONCURRENCY * 4)
        ratios, api_rates, trivial_rates, latencies, round_p99s = [], [], [], [], []
        for round_number in range(ROUNDS):
            # Interleaved, alternating which goes first, so a slow moment hits both.
            order = [("api", api_url, auth), ("trivial", trivial_url, {})]
            if round_number % 2:
                order.reverse()
            rates = {}
            for name, url, headers in order:
                if WRK:
                    rates[name], p99 = _load_wrk(url, headers, SECONDS)
                    if name == "api":
                        round_p99s.append(p99)
                else:
                    rates[name], seen = _load(url, headers, REQUESTS)
                    if name == "api":
                        latencies += seen
            api_rates.append(rates["api"])
            trivial_rates.append(rates["trivial"])
            ratios.append(rates["api"] / rates["trivial"])
    finally:
        _stop(server)

    ratio = statistics.median(ratios)
    p99 = statistics.median(round_p99s) if WRK else _p99(latencies)
    client = "wrk" if WRK else "8 Python threads (wrk is not installed: apt-get install wrk)"
    where = (
        f"{engine}, gunicorn as in the Procfile, concurrency {CONCURRENCY}, {ROUNDS} interleaved rounds, "
        f"load from {client}"
    )
    report.add(
        scenario=f"GET /api/v1/integrations ({INTEGRATIONS} integrations, {in_table:,} items), throughput",
        ours=statistics.median(api_rates),
        unit="req/s",
        baseline_name="/healthz (trivial view)",
        baseline=statistics.median(trivial_rates),
        measured_ratio=ratio,
        target=">= 0.25x the trivial view",
        met=ratio >= 0.25,
        note=f"{where}; {f'{SECONDS} s' if WRK else f'{REQUESTS} requests'} per contender per round; "
        "ratio = median of per-round ratios",
    )
    report.add(
        scenario=f"GET /api/v1/integrations ({INTEGRATIONS} integrations), p99 latency",
        ours=p99,
        unit="s",
        target="< 0.050 s",
        met=p99 < 0.050,
        note=(
            f"median of the rounds' p99 ({', '.join(f'{v * 1000:.0f} ms' for v in round_p99s)}), {where}"
            if WRK
            else f"{len(latencies)} requests, {where}"
        ),
    )
    mine = _mine_median(user)
    report.add(
        scenario=f"My integrations ({INTEGRATIONS} integrations, {in_table:,} items), server time median",
        ours=mine,
        unit="s",
        target="< 0.050 s",
        met=mine < 0.050,
        note=f"{engine}; median of {RENDERS} renders through the whole Django stack (test client, in process)",
    )
