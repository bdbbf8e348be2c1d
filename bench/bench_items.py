"""The items page at size: the same person's pages with 100,000 and with 1,000,000 items in the
table (the rows of other people count too), target: within 1.2x.

- the opening page (GET /integrations/items/),
- a page deep in the list through its cursor, as the Older link gives it (page 4,000 of 25, or
  the deepest one the person's dated items reach: where an OFFSET list had to read and throw away
  about 100,000 rows),
- a search for a word a few hundred of the person's items hold, and one nothing holds.

The person owns BENCH_ITEMS_MINE items (default 100,000, the issue's size; one in 41 is a
tombstone and one in 37 undated, so the deep page is the deepest full page of the 94,923 live
dated ones, page 3,796: keyset pages cost the same at any depth). Other people own the rest of
the table, BENCH_ITEMS_SMALL (default 100,000, at least the person's own: the person alone) then
BENCH_ITEMS_BIG (default 1,000,000) rows in all.

On PostgreSQL both sizes exist at once and are measured interleaved: the table grown to
BENCH_ITEMS_SMALL rows is copied into its own schema (bench_items_small, same columns and
indexes) before it grows on to BENCH_ITEMS_BIG, and each round requests every page at one size
then the other (switching the connection's search_path; the order alternates between rounds).
A row's ratio is the median of the per-round ratios, so a busy moment of the shared machine
weighs on both sizes alike. Before measuring, both tables are in the state autovacuum keeps a
live database in after a bulk load: VACUUM ANALYZE (planner statistics; the visibility map that
index-only scans need; the GIN index's pending list of new entries merged into the index, which
every search would otherwise read through), then a CHECKPOINT (the load's dirty pages written
out, as the checkpointer does within minutes, instead of during the measurement). Elsewhere
(SQLite) the table grows between the two sizes and each is measured on its own.
Each timing is the median of BENCH_ITEMS_ROUNDS requests after a warm-up. In-process requests
(django.test.Client): server time including template rendering, no network.
"""

from __future__ import annotations

import datetime
import os
import time

from django.test import Client
from django.utils import timezone

from bench.harness import Rounds

T0 = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
RARE = "zanzibar"  # in one item of every 500: 200 of the person's 100,000
NOWHERE = "quetzalcoatl"  # in none
DEEP_PAGES = 4000
PER_PAGE = 25
WARM_UP = 3  # rounds not counted
SMALL = "bench_items_small"  # the schema of the smaller table (PostgreSQL)


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


def _settle(tables: list[str]):
    """The state autovacuum keeps a live database in (see the module's docstring)."""
    from django.db import DatabaseError, connection

    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM ANALYZE {table}")
        try:
            cursor.execute("CHECKPOINT")
        except DatabaseError:  # not a superuser (or pg_checkpoint): the checkpointer will do it
            print("  (no CHECKPOINT: not allowed for this database user)")


def _snapshot() -> str:
    """A copy of the items table as it is now in the schema SMALL (see the module's docstring);
    answers the original's qualified name."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        table = f"{cursor.fetchone()[0]}.integrations_synceditem"
        cursor.execute(f"DROP SCHEMA IF EXISTS {SMALL} CASCADE")
        cursor.execute(f"CREATE SCHEMA {SMALL}")
        cursor.execute(f"CREATE TABLE {SMALL}.integrations_synceditem (LIKE {table} INCLUDING ALL)")
        # Names of this module and of the server (current_schema()), no input.
        cursor.execute(f"INSERT INTO {SMALL}.integrations_synceditem SELECT * FROM {table} ORDER BY id")  # noqa: S608
    return table


def _at(schema: str | None):
    """Unqualified table names resolve in `schema` first (None: as the connection's default).
    PostgreSQL only: elsewhere there is one table, measured at one size at a time."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(f"SET search_path TO {schema}, public" if schema else "RESET search_path")


def _check(schema: str | None, size: int):
    """The requests read the table of `size` rows: the connection (kept between requests: the test
    client does not close it) still has the search path `_at` gave it."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM integrations_synceditem")
        assert cursor.fetchone()[0] == size, (schema, size)


def _count() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM integrations_synceditem")
        return cursor.fetchone()[0]


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


def _measure(client, user, sizes: dict[int, str | None], rounds: int) -> tuple[Rounds, list[str]]:
    """Every page at every size (size -> the schema holding that table, None: the default one),
    interleaved; Rounds names are "label @ size"."""
    from django.test.utils import override_settings

    deep, page = _deep_cursor(user)  # the person's rows are the same at every size
    cases = {
        "opening page": {},
        f"page {page:,} (its cursor)": {"cursor": deep},
        f"search, {RARE!r} (a few hundred matches)": {"q": RARE},
        "search, no match": {"q": NOWHERE},
    }
    timed = Rounds()
    # Plain static URLs (no collectstatic manifest needed), as bench_gallery.
    static = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    try:
        with override_settings(DEBUG=False, STORAGES=static):
            for n in range(WARM_UP + rounds):
                if n >= WARM_UP:
                    timed.start()
                for size, schema in sorted(sizes.items(), reverse=n % 2 == 1):
                    _at(schema)
                    for label, params in cases.items():
                        started = time.perf_counter()
                        response = client.get("/integrations/items/", params)
                        elapsed = time.perf_counter() - started
                        assert response.status_code == 200, response.content[:200]
                        if n >= WARM_UP:
                            timed.record(f"{label} @ {size}", elapsed)
                    if n == 0:
                        _check(schema, size)
    finally:
        _at(None)
    return timed, list(cases)


def run(report):
    mine = int(os.environ.get("BENCH_ITEMS_MINE", "100000"))
    small = max(int(os.environ.get("BENCH_ITEMS_SMALL", "100000")), mine)
    big = max(int(os.environ.get("BENCH_ITEMS_BIG", "1000000")), small)
    rounds = int(os.environ.get("BENCH_ITEMS_ROUNDS", "30"))
    from django.db import connection

    from integrations.models import SyncedItem

    interleaved = connection.vendor == "postgresql"
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

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(me)
    grow(small, mine)
    # Other modules of the same run leave their items in the table: the sizes are what it holds.
    small_target, small = small, _count()
    big += small - small_target
    started = time.perf_counter()
    if interleaved:
        table = _snapshot()
        grow(big, small)
        _settle([f"{SMALL}.integrations_synceditem", table])
        print(f"  (the items table at {small:,} and {big:,} rows, in {time.perf_counter() - started:.0f} s)")
        timed, labels = _measure(client, me, {small: SMALL, big: None}, rounds)
        with connection.cursor() as cursor:
            cursor.execute(f"DROP SCHEMA {SMALL} CASCADE")
    else:
        timed, labels = _measure(client, me, {small: None}, rounds)
        grow(big, small)
        print(f"  (grew the items table to {big:,} rows in {time.perf_counter() - started:.0f} s)")
        at_big, _ = _measure(client, me, {big: None}, rounds)
        timed.times.update(at_big.times)

    how = "interleaved rounds, median of the per-round ratios" if interleaved else "not interleaved"
    for label in labels:
        ours, base = timed.median(f"{label} @ {big}"), timed.median(f"{label} @ {small}")
        ratio = timed.ratio(f"{label} @ {big}", f"{label} @ {small}") if interleaved else ours / base
        report.add(
            scenario=f"Items page, {label}: {mine:,} of mine, {big:,} items in the table ({connection.vendor})",
            ours=ours,
            baseline_name=f"the same at {small:,}",
            baseline=base,
            target="<= 1.2x",
            met=ratio <= 1.2,
            note="" if label != "opening page" else f"median of {rounds} in-process requests, {how}",
            measured_ratio=ratio if interleaved else None,
        )
