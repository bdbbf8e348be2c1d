"""On PostgreSQL (CI): every query the items page sends, the opening page, a page deep in the
list through its cursor, a search (with and without a match) and the capped count, is answered
by an index, never a sequential scan of the items table.

The tables are small here, where a sequential scan is honestly the cheapest plan: after ANALYZE,
the EXPLAINs run with enable_seqscan = off so the planner's choice is deterministic. That setting
does not forbid a sequential scan, it makes it cost 10^10; one still shows up when no index can
answer the query, which is what this test catches."""

import datetime
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from integrations import keyset
from integrations.models import IntegrationType, SyncedItem
from integrations.views.items import SCOPE
from tests.explain import nodes, plans_of
from tests.factories import make_integration

pytestmark = [
    pytest.mark.usefixtures("catalogue"),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="EXPLAIN plans of PostgreSQL"),
]
T0 = datetime.datetime(2024, 6, 1, tzinfo=datetime.UTC)


def fill(integration, count):
    SyncedItem.objects.bulk_create(
        SyncedItem(
            user_id=integration.user_id, integration=integration, kind="message" if n % 3 else "event",
            external_id=f"{integration.pk}/{n}", title=f"Message {n} about {'invoices' if n % 50 == 0 else 'lunch'}",
            summary=f"Body {n}", content_hash=str(n), source_type="imap", source_name="Inbox",
            fetched_at=timezone.now(), occurred_at=None if n % 97 == 0 else T0 - datetime.timedelta(minutes=n),
            deleted_at=timezone.now() if n % 11 == 0 else None,
        )
        for n in range(count)
    )  # fmt: skip


def item_queries(client, url, params) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url, params).status_code == 200
    return [q["sql"] for q in captured if 'FROM "integrations_synceditem"' in q["sql"]]


def scans_of_items(plan: dict) -> list[dict]:
    return [n for n in nodes(plan) if n.get("Relation Name") == "integrations_synceditem"]


@pytest.mark.django_db
def test_every_items_page_query_uses_an_index(owner_client, owner, other_user):
    mailbox = make_integration(owner, IntegrationType.objects.get(slug="imap"), name="Inbox")
    theirs = make_integration(other_user, IntegrationType.objects.get(slug="imap"), name="Theirs")
    fill(mailbox, 3000)
    fill(theirs, 3000)
    deep_row = SyncedItem.objects.filter(integration=mailbox, deleted_at__isnull=True, occurred_at__isnull=False)
    deep_row = deep_row.order_by("-occurred_at", "-pk")[2000]
    deep = keyset.encode(keyset.older_than(deep_row, "occurred_at"), SCOPE)
    undated = SyncedItem.objects.filter(integration=mailbox, occurred_at__isnull=True).order_by("-pk")[3]
    cases = {
        "opening": (reverse("integrations:all_items"), {}),
        "deep": (reverse("integrations:all_items"), {"cursor": deep}),
        "undated": (
            reverse("integrations:all_items"),
            {"cursor": keyset.encode(keyset.older_than(undated, "occurred_at"), SCOPE)},
        ),
        "newer": (
            reverse("integrations:all_items"),
            {"cursor": keyset.encode(keyset.newer_than(deep_row, "occurred_at"), SCOPE)},
        ),
        "search": (reverse("integrations:all_items"), {"q": "invoices"}),
        "no match": (reverse("integrations:all_items"), {"q": "zebra"}),
        "common word": (reverse("integrations:all_items"), {"q": "lunch"}),
        "integration": (reverse("integrations:items", args=[mailbox.pk]), {"cursor": deep}),
        "deleted shown": (reverse("integrations:all_items"), {"deleted": "1", "cursor": deep}),
    }
    fts_asked = set()
    for name, (url, params) in cases.items():
        sqls = item_queries(owner_client, url, params)
        assert sqls, name
        for sql, plan in plans_of(sqls, "integrations_synceditem"):
            scans = scans_of_items(plan)
            assert scans, (name, sql)
            for scan in scans:
                assert scan["Node Type"] != "Seq Scan", (name, sql, json.dumps(plan, indent=1))
            used = {scan.get("Index Name") for scan in nodes(plan)}
            if sql.startswith("SELECT COUNT(*)"):
                assert "LIMIT 1001" in sql  # capped: never a count of all rows
            if name in ("search", "no match", "common word"):
                # A search must not read every row of the person (say, when nothing matches): the
                # full-text index finds the matches (their ids, at most 1,001: also the count)...
                # (A common word, matched by most rows: finding 1,001 of them by any index is quick.)
                if "ORDER BY" not in sql and name != "common word":
                    assert "synceditem_search_fts" in used, (name, sql, used)
                    # ...the person's matches alone: the index holds the user too, so no bitmap of
                    # all of the person's rows (another index) is intersected with everyone's matches.
                    assert used - {None} == {"synceditem_search_fts"}, (name, sql, used)
                    fts_asked.add(name)
                # ...and up to 1,000 of them, the pages read those rows by primary key. (More: the
                # matches are common, the time index finds a page of them soon; see the view. The
                # "upcoming" query, after now, may walk the time index: its range is small here.)
                elif name != "common word" and "ASC LIMIT" not in sql:
                    assert "integrations_synceditem_pkey" in used, (name, sql, used)
            elif name != "integration" and 'ORDER BY "integrations_synceditem"."occurred_at"' in sql:
                # One of the two (user, occurred_at, id) indexes, the partial one of live items or
                # the whole one: which is the planner's choice, both answer without reading past rows.
                assert used & {"synceditem_live_keyset", "synceditem_user_keyset"}, (name, sql, used)
    assert fts_asked == {"search", "no match"}
