"""The items page at size: the same person's pages with 100,000 and with 1,000,000 items in the
table (the rows of other people count too), target: within 1.2x.

- the opening page (GET /integrations/items/),
- the page reached after 4,000 pages of 25 (through the cursor of that position, as the Older
  link gives it; the page where an OFFSET list had to read and throw away 100,000 rows),
- a search for a word a few hundred of the person's items hold, and one nothing holds.

The person owns BENCH_ITEMS_MINE items (default 110,000: past 4,000 pages of 25 live dated items,
as some are tombstones or undated); other people own the rest of the table, BENCH_ITEMS_SMALL
(default 100,000, at least the person's own) then BENCH_ITEMS_BIG (default 1,000,000) rows in all.
The two sizes cannot run interleaved (it is one table, grown between them): each is
the median of BENCH_ITEMS_ROUNDS requests after a warm-up, with fresh planner statistics (ANALYZE,
as autovacuum keeps them on a live database). In-process requests (django.test.Client): server
time including template rendering, no network.
"""

from __future__ import annotations

import datetime
import os
import statistics
import time

from django.test import Client
from django.utils import timezone

T0 = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
RARE = "zanzibar"  # in one item of every 500: 200 of the person's 100,000
NOWHERE = "quetzalcoatl"  # in none
DEEP_PAGES = 4000
PER_PAGE = 25


def _user(name):
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(username=name, defaults={"email": f"{name}@example.com"})
    return user


def _integration(user, name):
    from integrations.models import Integration, IntegrationType

    integration, _ = Integration.objects.get_or_create(
        user=user, type=IntegrationType.objects.get(slug="imap"), name=name
    )
    return integration


def _fill(integration, first: int, count: int):
    """`count` mail items, one a minute going back in time from T0, written in bulk (set-up, not
    measured); one in 500 mentions RARE, one in 37 has no time, one in 41 is a tombstone."""
    from integrations.models import SyncedItem

    now = timezone.now()
    step = 5_000
    for start in range(first, first + count, step):
        SyncedItem.objects.bulk_create(
            SyncedItem(
                user_id=integration.user_id, integration=integration, kind="message",
                external_id=f"INBOX/{n}", title=f"Re: weekly report {n}" + (f" from {RARE}" if n % 500 == 0 else ""),
                summary=f"Hello, here are the figures for week {n % 52}. Regards", content_hash=str(n),
                source_type="imap", source_name=integration.name, fetched_at=now,
                occurred_at=None if n % 37 == 0 else T0 - datetime.timedelta(minutes=n),
                deleted_at=now if n % 41 == 0 else None,
            )
            for n in range(start, min(start + step, first + count))
        )  # fmt: skip


def _analyze():
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE integrations_synceditem")


def _deep_cursor(user) -> tuple[str, int]:
    """The Older link's cursor at the end of page 4,000 (or as deep as the person's items go)."""
    from integrations import keyset
    from integrations.models import SyncedItem
    from integrations.views.items import SCOPE

    live = SyncedItem.objects.for_user(user).live()
    dated = live.filter(occurred_at__isnull=False).count()
    position = min(DEEP_PAGES * PER_PAGE, max(dated - PER_PAGE, 1)) - 1
    row = live.filter(occurred_at__isnull=False).order_by("-occurred_at", "-pk")[position]
    return keyset.encode(keyset.older_than(row, "occurred_at"), SCOPE), (position + 1) // PER_PAGE + 1


def _median(client, params, rounds) -> float:
    times = []
    for n in range(rounds + 3):
        started = time.perf_counter()
        response = client.get("/integrations/items/", params)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.content[:200]
        if n >= 3:  # warm-up
            times.append(elapsed)
    return statistics.median(times)


def _measure(client, user, rounds) -> dict[str, float]:
    from django.test.utils import override_settings

    deep, page = _deep_cursor(user)
    # Plain static URLs (no collectstatic manifest needed), as bench_gallery.
    static = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(DEBUG=False, STORAGES=static):
        return {
            "opening page": _median(client, {}, rounds),
            f"page {page:,} (its cursor)": _median(client, {"cursor": deep}, rounds),
            f"search, {RARE!r} (a few hundred matches)": _median(client, {"q": RARE}, rounds),
            "search, no match": _median(client, {"q": NOWHERE}, rounds),
        }


def run(report):
    mine = int(os.environ.get("BENCH_ITEMS_MINE", "110000"))  # 4,000 live dated pages and more
    small = max(int(os.environ.get("BENCH_ITEMS_SMALL", "100000")), mine)
    big = max(int(os.environ.get("BENCH_ITEMS_BIG", "1000000")), small)
    rounds = int(os.environ.get("BENCH_ITEMS_ROUNDS", "30"))
    from integrations.models import SyncedItem

    # A database kept from an earlier run (PostgreSQL): start from an empty set of bench items.
    # A raw DELETE: nothing refers to these rows (bulk_create sends no signals, nothing ingested).
    earlier = SyncedItem.objects.filter(user__username__startswith="bench-items-")
    earlier._raw_delete(earlier.db)
    me = _user("bench-items-me")
    inbox = _integration(me, "Inbox")
    _fill(inbox, 0, mine)
    others = [_integration(_user(f"bench-items-other-{n}"), "Inbox") for n in range(10)]

    def grow(to: int, already: int):
        share = (to - already) // len(others)
        for n, integration in enumerate(others):
            count = share if n < len(others) - 1 else to - already - share * (len(others) - 1)
            _fill(integration, already + n * share, count)

    grow(small, mine)
    _analyze()
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(me)
    at_small = _measure(client, me, rounds)
    started = time.perf_counter()
    grow(big, small)
    _analyze()
    print(f"  (grew the items table to {big:,} rows in {time.perf_counter() - started:.0f} s)")
    at_big = _measure(client, me, rounds)
    from django.db import connection

    for label, seconds in at_big.items():
        base = at_small[label]
        ratio = seconds / base if base else 0.0
        report.add(
            scenario=f"Items page, {label}: {mine:,} of mine, {big:,} items in the table ({connection.vendor})",
            ours=seconds,
            baseline_name=f"the same at {small:,}",
            baseline=base,
            target="<= 1.2x",
            met=ratio <= 1.2,
            note="" if label != "opening page" else f"median of {rounds} in-process requests, not interleaved",
        )
