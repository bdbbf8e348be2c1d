"""The synced items timeline: search, pagination, tombstones, provenance, and every piece of
synced content sanitized (nh3) before it reaches the page."""

import datetime
import html
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from connectors.imap_mail.parse import addresses
from integrations.models import IntegrationType, SyncedItem
from tests.factories import make_integration
from tests.integrations.ui import connect_ical, serve_calendar, text, the_only_integration

pytestmark = pytest.mark.usefixtures("catalogue")

HOSTILE = (
    '<p onclick="steal()">Hello <b>Alice</b></p>'
    "<script>alert('x')</script>"
    '<img src="x" onerror="alert(1)">'
    '<img src="https://images.example.com/pic.png" alt="pic">'
    '<img src="https://track.example.net/open.gif?u=42" width="1" height="1">'
    '<img src="data:image/png;base64,AAAA">'
    '<a href="javascript:alert(2)">click me</a>'
    '<a href="https://example.com/read">read more</a>'
    '<a href="/admin/">inside the hub</a>'
    '<iframe src="https://evil.example"></iframe>'
    "<style>body{display:none}</style>"
)


@pytest.fixture
def mailbox(owner):
    return make_integration(owner, IntegrationType.objects.get(slug="imap"), name="Inbox")


def item(owner, integration, n, **fields):
    now = timezone.now()
    values = dict(
        user=owner, integration=integration, kind="message", external_id=f"INBOX/1/{n}", title=f"Message {n}",
        summary=f"Body of message {n}", content_hash=str(n), source_type="imap", source_name="Inbox",
        fetched_at=now, occurred_at=now - timedelta(hours=n),
    )  # fmt: skip
    values.update(fields)
    return SyncedItem.objects.create(**values)


def test_synced_content_is_rendered_inert(owner_client, owner, mailbox):
    item(owner, mailbox, 1, title="<script>alert('title')</script>Quarterly", summary=HOSTILE, data={"html": HOSTILE})
    page = text(owner_client.get(reverse("integrations:items", args=[mailbox.pk])))
    body = page[page.index('id="items-results"') :]
    assert "<script>" not in body
    assert "alert(" not in body.replace("&lt;script&gt;alert(&#x27;title&#x27;)", "")
    assert "&lt;script&gt;alert(&#x27;title&#x27;)&lt;/script&gt;Quarterly" in body  # a title is plain text
    assert "onclick" not in body
    assert "onerror" not in body
    assert "onload" not in body
    assert "javascript:" not in body
    assert "data:image" not in body
    assert "<iframe" not in body
    assert "<style" not in body
    assert "display:none" not in body
    assert '<a href="https://example.com/read" rel="noopener noreferrer nofollow">read more</a>' in body
    assert 'href="/admin/"' not in body  # relative links would point into the hub itself
    assert "<b>Alice</b>" in body  # harmless formatting survives
    assert "Show the full message" in body  # data["html"] behind a disclosure, sanitized too
    # Remote images are not loaded (a tracking pixel would tell the sender the message was read):
    # a placeholder names the image and its host instead, and the pixel leaves no trace at all.
    assert "<img" not in body
    assert "track.example.net" not in body
    assert body.count('class="image-blocked"') == 2  # "pic", in the summary and in the full message
    assert 'pic <span class="muted">(images.example.com)</span>' in body
    assert "Remote images are not loaded" in body


def test_load_images_shows_them_for_that_item_only(owner_client, owner, mailbox):
    newsletter = item(owner, mailbox, 1, title="Newsletter", summary=HOSTILE)
    other = item(owner, mailbox, 2, title="Other", summary='<p><img src="https://cdn.example.org/x.png"></p>')
    url = reverse("integrations:items", args=[mailbox.pk])
    page = text(owner_client.get(url, {"q": "news"}))  # a word prefix: full-text search on PostgreSQL
    assert f'href="?q=news&amp;images={newsletter.pk}#item-{newsletter.pk}">Load images</a>' in page  # keeps the search
    shown = text(owner_client.get(url, {"images": newsletter.pk}))
    mine = shown[shown.index(f'id="item-{newsletter.pk}"') : shown.index(f'id="item-{other.pk}"')]
    image = re.search(r'<img src="https://images.example.com/pic.png" alt="pic"[^>]*>', mine).group(0)
    assert 'referrerpolicy="no-referrer"' in image  # loaded without telling the sender where from
    assert 'loading="lazy"' in image
    assert "Hide them" in mine
    assert "onerror" not in mine  # still sanitized
    theirs = shown[shown.index(f'id="item-{other.pk}"') :]
    assert "cdn.example.org/x.png" not in theirs  # the other item's images stay blocked
    assert "Load images" in theirs


def test_plain_text_keeps_its_line_breaks_and_is_escaped(owner_client, owner, mailbox):
    item(owner, mailbox, 1, summary="Line one\nLine two & <three")
    page = text(owner_client.get(reverse("integrations:items", args=[mailbox.pk])))
    assert "Line one<br>Line two &amp; &lt;three" in page


def test_provenance_is_shown(owner_client, owner, mailbox):
    item(owner, mailbox, 1, source_url="https://mail.example.com/m/1")
    page = text(owner_client.get(reverse("integrations:items", args=[mailbox.pk])))
    assert f'href="{mailbox.get_absolute_url()}">Inbox</a> (IMAP Mail)' in page  # the type's name, not its slug
    assert "INBOX/1/1" in page
    assert "fetched" in page
    assert (
        '<a href="https://mail.example.com/m/1" rel="noopener noreferrer nofollow" target="_blank">source ↗</a>' in page
    )


def test_kept_items_of_a_deleted_integration_still_name_their_type(owner_client, owner):
    item(owner, None, 1, title="Kept after delete", source_name="Old inbox")
    page = text(owner_client.get(reverse("integrations:all_items")))
    assert "Old inbox (IMAP Mail)" in page


def test_mail_senders_and_recipients_read_as_addresses(owner_client, owner, mailbox):
    # The shape the IMAP connector stores: {"name", "email"} dicts from its own header parser.
    sender = addresses("From", '"Bob Builder" <bob@example.com>')[0]
    recipients = addresses("To", "Alice <alice@example.com>, carol@example.com, Dan <dan@example.com>, e@example.com")
    item(owner, mailbox, 1, data={"from": sender, "to": recipients})
    page = text(owner_client.get(reverse("integrations:items", args=[mailbox.pk])))
    facts = re.search(r'<dl class="item-facts small">.*?</dl>', page, re.S).group(0)
    assert "<dt>From</dt><dd>Bob Builder &lt;bob@example.com&gt;</dd>" in facts
    assert (
        "<dt>To</dt><dd>Alice &lt;alice@example.com&gt;, carol@example.com, Dan &lt;dan@example.com&gt; and 1 more</dd>"
        in facts
    )
    assert "{" not in facts  # never a raw dict
    assert "&#x27;email&#x27;" not in page


def test_text_addresses_of_other_connectors_are_shown_as_they_are(owner_client, owner, mailbox):
    item(owner, mailbox, 1, data={"from": "Bob <bob@example.com>", "to": ["a@example.com", "b@example.com"]})
    page = text(owner_client.get(reverse("integrations:items", args=[mailbox.pk])))
    assert "Bob &lt;bob@example.com&gt;" in page
    assert "a@example.com, b@example.com" in page


def link(page: str, rel: str) -> str:
    """The query string of the page's Older (next) or Newer (prev) link."""
    return html.unescape(re.search(rf'href="(\?[^"]+)"[^>]*rel="{rel}"', page).group(1))


def test_search_and_pagination(owner_client, owner, mailbox):
    for n in range(60):
        item(owner, mailbox, n, title=f"Invoice {n}" if n % 2 else f"Newsletter {n}")
    url = reverse("integrations:items", args=[mailbox.pk])
    first = text(owner_client.get(url))
    assert first.count('class="card item') == 25
    assert "60 items" in first
    assert "Newsletter 0" in first  # newest first
    second = text(owner_client.get(url + link(first, "next")))
    third = text(owner_client.get(url + link(second, "next")))
    assert third.count('class="card item') == 10
    assert 'rel="next"' not in third  # the end
    found = owner_client.get(url, {"q": "invoice"})
    assert "30 items matching “invoice”" in text(found)
    assert all("Invoice" in t for t in re.findall(r'<h3 class="item-title">([^<]*)', text(found)))
    assert re.search(r'href="\?q=invoice&amp;cursor=[^"]+"[^>]*rel="next"', text(found))  # pages keep the search
    assert "Nothing matches “zebra”" in text(owner_client.get(url, {"q": "zebra"}))


def test_htmx_search_answers_only_the_results(owner_client, owner, mailbox):
    item(owner, mailbox, 1)
    response = owner_client.get(
        reverse("integrations:items", args=[mailbox.pk]),
        {"q": "message"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="items-results",
    )
    assert text(response).lstrip().startswith('<section id="items-results"')


def test_tombstones_are_hidden_unless_asked_for(owner_client, owner, mailbox):
    item(owner, mailbox, 1, title="Still here")
    item(owner, mailbox, 2, title="Gone at the source", deleted_at=timezone.now())
    url = reverse("integrations:items", args=[mailbox.pk])
    assert "Gone at the source" not in text(owner_client.get(url))
    page = text(owner_client.get(url, {"deleted": "1"}))
    assert "Gone at the source" in page
    assert "Deleted at the source" in page


def test_all_items_spans_integrations_but_only_mine(owner_client, owner, other_user, mailbox):
    other = make_integration(owner, IntegrationType.objects.get(slug="ical-feed"), name="Calendar")
    theirs = make_integration(other_user, IntegrationType.objects.get(slug="ical-feed"), name="Theirs")
    item(owner, mailbox, 1, title="From the inbox")
    item(owner, other, 2, title="From the calendar", source_name="Calendar")
    item(other_user, theirs, 3, title="Not for the owner")
    page = text(owner_client.get(reverse("integrations:all_items")))
    assert "From the inbox" in page
    assert "From the calendar" in page
    assert "Not for the owner" not in page
    assert "Not for the owner" not in text(owner_client.get(reverse("integrations:all_items"), {"q": "owner"}))


def test_a_real_sync_fills_the_timeline(owner_client, owner, feed_server):
    from integrations.sync.engine import run_job
    from integrations.sync.jobs import queue_sync

    connect_ical(owner_client, serve_calendar(feed_server))
    integration = the_only_integration(owner)
    run_job(queue_sync(integration, enqueue=False).pk)
    page = text(owner_client.get(reverse("integrations:items", args=[integration.pk])))
    assert "14 items" in page
    assert "Labour Day" in page
    assert "Réunion à Paris" in page
    assert "Rue de Rivoli, Paris" in page  # the event's place, at a glance


def test_all_day_events_show_no_midnight_time(owner_client, owner):
    calendar = make_integration(owner, IntegrationType.objects.get(slug="ical-feed"), name="Holidays")
    day = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    item(owner, calendar, 1, kind="event", external_id="labour-day", title="Labour Day", occurred_at=day,
         data={"all_day": True, "start": day.date().isoformat()})  # fmt: skip
    # Yesterday: "Latest items" are those up to now, and today's 09:30 may still be ahead.
    item(owner, calendar, 2, kind="event", external_id="standup", title="Standup",
         occurred_at=day.replace(hour=9, minute=30) - datetime.timedelta(days=1))  # fmt: skip

    timeline = text(owner_client.get(reverse("integrations:items", args=[calendar.pk])))
    assert ">all day</time>" in timeline
    assert ">00:00</time>" not in timeline
    assert ">09:30</time>" in timeline
    latest = text(owner_client.get(calendar.get_absolute_url()))
    latest = latest[latest.index('id="latest-items"') :]
    assert re.search(r"Labour Day</span><span[^>]*>[^<]*, all day<", latest)
    assert re.search(r"Standup</span><span[^>]*>[^<]*, 09:30<", latest)
