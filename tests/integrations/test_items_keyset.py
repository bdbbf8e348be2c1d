"""The items page at any size: keyset pages ("older than" / "newer than") with signed cursors,
undated items after the oldest dated one, every filter kept across pages, a capped count, and a
number of queries that does not grow with the data."""

import datetime
import html
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from integrations import keyset
from integrations.models import IntegrationType, SyncedItem
from integrations.views.items import COUNT_CAP, PER_PAGE, SCOPE
from tests.factories import make_integration
from tests.integrations.ui import text

pytestmark = pytest.mark.usefixtures("catalogue")
T0 = datetime.datetime(2024, 6, 1, 12, 0, tzinfo=datetime.UTC)


@pytest.fixture
def mailbox(owner):
    return make_integration(owner, IntegrationType.objects.get(slug="imap"), name="Inbox")


@pytest.fixture
def calendar(owner):
    return make_integration(owner, IntegrationType.objects.get(slug="ical-feed"), name="Calendar")


def add(integration, count, *, start=0, when=lambda n: T0 - datetime.timedelta(hours=n), **fields):
    rows = [
        SyncedItem(
            user_id=integration.user_id, integration=integration, kind=fields.get("kind", "message"),
            external_id=f"{integration.pk}/{start + n}", title=fields.get("title", "Message {n}").format(n=start + n),
            summary=fields.get("summary", "Body"), content_hash=str(n), source_type=integration.type.slug,
            source_name=integration.name, fetched_at=timezone.now(), occurred_at=when(start + n),
            deleted_at=fields.get("deleted_at"),
        )
        for n in range(count)
    ]  # fmt: skip
    return SyncedItem.objects.bulk_create(rows)


def ids(page: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<li class="card item[^"]*" id="item-(\d+)"', page)]


def link(page: str, rel: str) -> str | None:
    found = re.search(rf'href="(\?[^"]+)"[^>]*rel="{rel}"', page)
    return html.unescape(found.group(1)) if found else None


def walk(client, url, params=None, *, first=None):
    """Every page from the top (the Newest link), following Older; answers the pages' ids."""
    page = text(
        client.get(url, {**(params or {}), "cursor": first or keyset.encode(keyset.Position(keyset.TOP), SCOPE)})
    )
    pages = [ids(page)]
    while (older := link(page, "next")) is not None:
        page = text(client.get(url + older))
        pages.append(ids(page))
        assert len(pages) < 50
    return pages, page


def expected_order(queryset) -> list[int]:
    """Newest first, ties by id, undated last (newest id first)."""
    rows = list(queryset.values_list("occurred_at", "pk"))
    dated = sorted((r for r in rows if r[0] is not None), reverse=True)
    undated = sorted((r for r in rows if r[0] is None), reverse=True)
    return [pk for _, pk in dated + undated]


def test_older_pages_cover_every_live_item_once_in_order_and_newer_walks_back(owner_client, owner, mailbox):
    add(mailbox, 40)
    add(mailbox, 12, start=40, when=lambda n: T0 - datetime.timedelta(days=3))  # a tie on the time: ids decide
    add(mailbox, 30, start=60, when=lambda n: None)  # undated: after the oldest dated item
    add(mailbox, 5, start=100, deleted_at=timezone.now())  # tombstones are not listed
    url = reverse("integrations:items", args=[mailbox.pk])
    pages, last = walk(owner_client, url)
    flat = [pk for page in pages for pk in page]
    assert flat == expected_order(SyncedItem.objects.filter(integration=mailbox, deleted_at__isnull=True))
    assert [len(p) for p in pages] == [25, 25, 25, 7]
    # Back up with Newer: the same pages, in reverse.
    back = [ids(last)]
    page = last
    while (newer := link(page, "prev")) is not None:
        page = text(owner_client.get(url + newer))
        back.append(ids(page))
    assert back[::-1] == pages


def test_filters_are_kept_across_pages(owner_client, owner, mailbox, calendar):
    add(mailbox, 30, title="Invoice {n}", kind="message")
    add(mailbox, 30, start=30, title="Newsletter {n}", kind="message")
    add(mailbox, 30, start=60, title="Invoice event {n}", kind="event")
    add(calendar, 30, title="Invoice elsewhere {n}")
    url = reverse("integrations:items", args=[mailbox.pk])
    pages, _ = walk(owner_client, url, {"q": "invoice", "kind": "message"})
    shown = SyncedItem.objects.filter(pk__in=[pk for p in pages for pk in p])
    assert shown.count() == 30 == sum(len(p) for p in pages)
    assert set(shown.values_list("kind", flat=True)) == {"message"}
    assert set(shown.values_list("integration", flat=True)) == {mailbox.pk}
    assert all(t.startswith("Invoice") for t in shown.values_list("title", flat=True))
    first = text(owner_client.get(url, {"q": "invoice", "kind": "message"}))
    assert re.search(r'href="\?q=invoice&amp;kind=message&amp;cursor=[^"]+"[^>]*rel="next"', first)
    assert 'name="kind" value="message"' in first  # a new search keeps the kind


def test_a_bad_cursor_falls_back_to_the_opening_page(owner_client, owner, mailbox):
    add(mailbox, 30)
    url = reverse("integrations:items", args=[mailbox.pk])
    good = keyset.encode(keyset.Position(keyset.OLDER, T0, 10**6), SCOPE)
    other_scope = keyset.encode(keyset.Position(keyset.OLDER, T0, 10**6), "records")
    tampered = good.replace(
        good.split(":")[0], keyset.encode(keyset.Position(keyset.OLDER, T0, 1), SCOPE).split(":")[0]
    )
    for cursor in ("not-a-cursor", "x" * 5000, other_scope, tampered, good[:-2], "%00", ":::"):
        response = owner_client.get(url, {"cursor": cursor})
        assert response.status_code == 200, cursor
        assert "That page link is no longer valid" in text(response)
        assert len(ids(text(response))) == PER_PAGE


def test_decode_rejects_what_encode_did_not_give_out():
    position = keyset.Position(keyset.NEWER, T0, 42)
    assert keyset.decode(keyset.encode(position, "items"), "items") == position
    assert keyset.decode(keyset.encode(keyset.Position(keyset.OLDER, None, 7), "items"), "items").at is None
    assert keyset.decode(keyset.encode(position, "items"), "records") is None
    assert keyset.decode("", "items") is None
    assert keyset.decode(None, "items") is None
    from django.core import signing

    for value in ({"d": "o", "t": "yesterday", "i": 1}, {"d": "o", "t": None, "i": "1"}, {"d": "x"}, [1],
                  {"d": "o", "t": "2024-01-01T00:00:00", "i": 1}, {"d": "o", "t": None, "i": True}):  # fmt: skip
        assert keyset.decode(signing.dumps(value, salt="keyset:items", compress=False), "items") is None


def test_the_count_is_capped(owner_client, owner, mailbox):
    add(mailbox, COUNT_CAP + 5)
    page = text(owner_client.get(reverse("integrations:items", args=[mailbox.pk])))
    assert f"{COUNT_CAP:,}+ items" in page
    assert "1,000+ items" in page


def test_htmx_paging_swaps_only_the_results(owner_client, owner, mailbox):
    add(mailbox, 30)
    url = reverse("integrations:items", args=[mailbox.pk])
    first = text(owner_client.get(url))
    older = link(first, "next")
    assert re.search(r'hx-get="\?cursor=[^"]+" hx-target="#items-results" hx-swap="outerHTML"[^>]*rel="next"', first)
    response = owner_client.get(url + older, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="items-results")
    assert text(response).lstrip().startswith('<section id="items-results"')
    assert len(ids(text(response))) == 5
    assert response["HX-Push-Url"].startswith(url + "?cursor=")


def test_newest_and_today(owner_client, owner, mailbox):
    now = timezone.now()
    add(mailbox, 40, title="Future {n}", when=lambda n: now + datetime.timedelta(days=n + 1))
    add(mailbox, 40, start=40, title="Past {n}", when=lambda n: now - datetime.timedelta(days=n))
    url = reverse("integrations:items", args=[mailbox.pk])
    opening = text(owner_client.get(url))
    titles = re.findall(r'<h3 class="item-title">([^<]*)', opening)
    assert titles[:3] == ["Future 2", "Future 1", "Future 0"]  # the soonest upcoming, above the line
    assert titles[3] == "Past 40"
    assert opening.index("Future 0") < opening.index('class="today-line"') < opening.index("Past 40")
    assert "40 upcoming items" in opening
    newest = text(
        owner_client.get(url + html.unescape(re.search(r'href="(\?cursor=[^"]+)"[^>]*>⇤ Newest', opening).group(1)))
    )
    assert re.findall(r'<h3 class="item-title">([^<]*)', newest)[0] == "Future 39"
    assert "Jump to today" in newest
    newer = text(owner_client.get(url + link(opening, "prev")))
    assert re.findall(r'<h3 class="item-title">([^<]*)', newer)[-1] == "Future 3"  # just above the opening page


def queries(client, url, params=None) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url, params or {}).status_code == 200
    return len(captured)


@pytest.mark.parametrize("where", ["all", "integration"])
def test_the_number_of_queries_does_not_grow_with_the_data(owner_client, owner, other_user, mailbox, calendar, where):
    url = reverse("integrations:all_items") if where == "all" else reverse("integrations:items", args=[mailbox.pk])
    theirs = make_integration(other_user, IntegrationType.objects.get(slug="imap"), name="Theirs")

    def measure():
        first = text(owner_client.get(url))
        deep = link(first, "next")
        return {
            "opening": queries(owner_client, url),
            "older": queries(owner_client, url + deep),
            "search": queries(owner_client, url, {"q": "message"}),
            "kind": queries(owner_client, url, {"kind": "message"}),
            "deleted": queries(owner_client, url, {"deleted": "1"}),
        }

    add(mailbox, 60)
    add(calendar, 10)
    add(theirs, 60)
    small = measure()
    add(mailbox, 600, start=60)
    add(calendar, 100, start=10)
    add(theirs, 600, start=60)
    assert measure() == small
