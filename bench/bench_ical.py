"""iCal feed: full sync vs a bare icalendar parse (the floor), interleaved rounds with the ratio
the median of the per-round ratios; the 304 re-sync, duplicates after three re-syncs, and peak
memory while syncing 100,000 items (in a child process, primary database only).

The feed (bench/calendars.py) has recurring events with EXDATEs and RECURRENCE-ID overrides, so
the floor parses them and the hub expands them. Sizes: BENCH_ICAL_EVENTS, BENCH_ICAL_MEMORY_EVENTS,
BENCH_ROUNDS."""

import json
import os
import subprocess
import sys
import time

import icalendar
from django.conf import settings

from bench.calendars import ical_feed
from bench.harness import Rounds, is_primary
from tests.peers.feeds import FeedServer

EVENTS = int(os.environ.get("BENCH_ICAL_EVENTS", "10000"))
MEMORY_EVENTS = int(os.environ.get("BENCH_ICAL_MEMORY_EVENTS", "100000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SQLITE_TOO = True  # the sync rows are also run on SQLite (bench/__main__.py)


def _integration(url: str, name: str):
    from django.contrib.auth import get_user_model

    from integrations.models import Integration, IntegrationType
    from integrations.secrets import store_secrets

    user, _ = get_user_model().objects.get_or_create(username="bench", defaults={"email": "bench@example.com"})
    itype = IntegrationType.objects.get(slug="ical-feed")
    itype.rate_limit_per_minute = None  # the benchmark measures the sync, not the politeness limit
    itype.save()
    Integration.objects.filter(user=user, name=name).delete()
    integration = Integration.objects.create(
        user=user, type=itype, name=name, status="connected",
        config={"window_past_days": 60, "window_future_days": 400},
    )  # fmt: skip
    store_secrets(integration, {"url": url})
    return integration


def _sync(integration, kind=None):
    from integrations.sync.engine import run_job
    from integrations.sync.jobs import queue_sync

    job = queue_sync(integration, kind=kind, enqueue=False)
    return run_job(job.pk)


def run(report):
    server = FeedServer()
    settings.SSRF_ALLOWED_HOSTS = [server.host]
    try:
        body = ical_feed(EVENTS)
        server.serve("/bench.ics", body)

        def floor():
            calendar = icalendar.Calendar.from_ical(body)
            return sum(1 for _ in calendar.walk("VEVENT"))

        # Interleaved rounds (hub, floor), each full sync into a fresh integration.
        rounds = Rounds()
        jobs = []
        for round_ in range(ROUNDS):
            rounds.start()
            integration = _integration(server.url("/bench.ics"), f"bench-ical-{round_}")
            jobs.append(rounds.time("hub", _sync, integration))
            count = rounds.time("floor", floor)
            print(f"  round {round_ + 1}: {rounds.line()}")
        job = jobs[-1]
        ratio = rounds.ratio("hub", "floor")
        report.add(
            scenario=f"iCal feed, {EVENTS:,} events, full sync ({job.created:,} items incl. recurrences)",
            ours=rounds.median("hub"), baseline_name="icalendar parse (floor)", baseline=rounds.median("floor"),
            measured_ratio=ratio, target="<= 1.5x floor", met=ratio <= 1.5 and job.status == "succeeded",
            note=f"median of {ROUNDS} interleaved rounds (hub: {rounds.all('hub')}; floor: {rounds.all('floor')}); "
            f"the floor parses the same {count:,} VEVENTs (recurring ones with EXDATEs, RECURRENCE-ID overrides) "
            "and stores nothing; the sync also expands recurrences within the window, hashes and stores every item",
        )  # fmt: skip

        quiet = Rounds()
        seen = []
        for _ in range(ROUNDS):
            quiet.start()
            seen.append(quiet.time("hub", _sync, integration).seen)
        report.add(
            scenario="iCal feed, unchanged re-sync (304)", ours=quiet.median("hub"), target="< 0.05 s",
            met=quiet.median("hub") < 0.05 and not any(seen),
            note=f"median of {ROUNDS} ({quiet.all('hub')}); items fetched: {seen}",
        )  # fmt: skip

        from integrations.models import SyncedItem

        for round_number in range(3):  # new DTSTAMPs each time, as many publishers do
            server.serve("/bench.ics", body.replace(b"DTSTAMP:20260101", f"DTSTAMP:2026020{round_number}".encode()))
            _sync(integration, kind="full")
        rows = SyncedItem.objects.filter(integration=integration)
        duplicates = rows.count() - rows.values("external_id").distinct().count()
        report.add(
            scenario="Duplicates after 3 full re-syncs", ours=duplicates, unit="rows", target="0", met=duplicates == 0
        )

        if not is_primary():
            return  # memory is the worker's, measured once (on the primary database)
        server.serve("/big.ics", ical_feed(MEMORY_EVENTS, recurring_every=0))
        peak = _peak_rss_of_child_sync(server.url("/big.ics"))
        report.add(
            scenario=f"Peak RSS syncing {MEMORY_EVENTS:,} items (whole worker process)", ours=peak, unit="MB",
            target="< 300 MB", met=peak < 300,
        )  # fmt: skip
    finally:
        server.stop()


def _peak_rss_of_child_sync(url: str) -> float:
    """Run the sync in a fresh process so its peak RSS is the sync's own, not the benchmark's."""
    integration = _integration(url, "bench-memory")
    env = dict(os.environ, SSRF_ALLOWED_HOSTS=url.split("/")[2])
    code = (
        "import django, json; django.setup();"
        "from django.core.management import call_command; import io;"
        f"call_command('sync', '{integration.pk}', stdout=io.StringIO());"
        # VmHWM, not ru_maxrss: after fork+exec Linux keeps the parent's peak in ru_maxrss.
        "hwm = next(l for l in open('/proc/self/status') if l.startswith('VmHWM'));"
        "print(json.dumps(int(hwm.split()[1]) / 1024))"
    )
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=1800, check=True,
        cwd=str(settings.BASE_DIR),
    )  # fmt: skip
    print(f"  ({MEMORY_EVENTS:,}-item sync took {time.perf_counter() - started:.1f} s)")
    return json.loads(result.stdout.strip().splitlines()[-1])
