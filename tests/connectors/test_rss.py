"""The RSS/Atom connector against a real local HTTP server."""

import datetime

import pytest

from integrations.models import JobStatus, SyncedItem
from tests.connectors.helpers import DATA, connect, live_items, sync

pytestmark = pytest.mark.usefixtures("catalogue")


def _feed(name: str) -> bytes:
    return (DATA / "feeds" / name).read_bytes()


def test_rss_entries_are_deduplicated_by_guid_link_then_content(owner, feed_server):
    feed_server.serve("/blog.rss", _feed("blog.rss"), content_type="application/rss+xml")
    integration = connect(owner, "rss", config={"url": feed_server.url("/blog.rss")})
    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED, job.error_message
    items = {i.external_id: i for i in live_items(integration)}
    assert set(items) == {
        "post-1",
        "https://blog.example.com/second",
        next(k for k in items if k.startswith("sha256:")),
    }
    first = items["post-1"]
    assert first.title == "First post"
    assert first.occurred_at == datetime.datetime(2026, 11, 2, 9, 0, tzinfo=datetime.UTC)
    assert first.source_url == "https://blog.example.com/first"
    assert first.data["author"] == "Ada"
    assert first.data["tags"] == ["news"]
    assert first.data["enclosures"][0]["url"] == "https://blog.example.com/ep1.mp3"
    assert first.data["feed"] == "Example Blog"
    assert job.unchanged == 0
    assert job.created == 3


def test_atom_feeds_work_too(owner, feed_server):
    feed_server.serve("/news.atom", _feed("news.atom"), content_type="application/atom+xml")
    integration = connect(owner, "rss", config={"url": feed_server.url("/news.atom")})
    sync(integration)
    titles = set(live_items(integration).values_list("title", flat=True))
    assert titles == {"Atom entry one", "Atom entry two"}


def test_unchanged_feed_is_one_conditional_request(owner, feed_server):
    feed_server.serve("/blog.rss", _feed("blog.rss"), content_type="application/rss+xml")
    integration = connect(owner, "rss", config={"url": feed_server.url("/blog.rss")})
    sync(integration)
    job = sync(integration)
    assert job.seen == 0
    assert feed_server.requests_to("/blog.rss")[-1].headers.get("If-None-Match")


def test_new_entries_are_added_and_old_ones_kept(owner, feed_server):
    feed_server.serve("/blog.rss", _feed("blog.rss"), content_type="application/rss+xml")
    integration = connect(owner, "rss", config={"url": feed_server.url("/blog.rss")})
    sync(integration)
    newer = (
        _feed("blog.rss")
        .replace(
            b"<item>\n    <title>First post</title>",
            b"<item><title>Brand new</title><guid>post-0</guid></item>\n  <item>\n    <title>First post</title>",
            1,
        )
        .replace(b"<item>\n    <title>Third post, neither guid nor link</title>", b"<item><title>gone</title>", 1)
    )
    feed_server.serve("/blog.rss", newer, content_type="application/rss+xml")
    job = sync(integration)
    assert job.created == 2  # the new entry, and "gone" (a changed hash-identified entry)
    assert job.deleted == 0  # entries leaving a feed's window are not deletions
    assert SyncedItem.objects.filter(integration=integration, deleted_at__isnull=False).count() == 0


@pytest.mark.parametrize("name", ["billion-laughs.xml", "external-entity.xml"])
def test_xml_entity_attacks_are_refused_with_a_clear_message(owner, feed_server, name):
    feed_server.serve("/evil.xml", _feed(name), content_type="application/rss+xml")
    integration = connect(owner, "rss", config={"url": feed_server.url("/evil.xml")})
    job = sync(integration)
    assert job.status == JobStatus.FAILED
    assert job.error_class == "config"
    assert "refuses for safety" in job.error_message
    assert live_items(integration).count() == 0


def test_a_broken_but_readable_feed_still_imports(owner, feed_server):
    feed_server.serve("/broken.rss", _feed("broken.rss"), content_type="application/rss+xml")
    integration = connect(owner, "rss", config={"url": feed_server.url("/broken.rss")})
    job = sync(integration)
    assert job.status in (JobStatus.SUCCEEDED, JobStatus.PARTIAL)
    assert live_items(integration).count() == 2


def test_a_web_page_is_not_a_feed(owner, feed_server):
    feed_server.serve("/page", b"<html><body>Hello</body></html>", content_type="text/html")
    integration = connect(owner, "rss", config={"url": feed_server.url("/page")})
    job = sync(integration)
    assert job.error_class == "config"
    assert "did not return an RSS or Atom feed" in job.error_message


def test_a_huge_feed_is_stopped_at_the_size_cap(owner, feed_server, settings):
    settings.OUTBOUND_MAX_BYTES = 2 * 1024 * 1024
    from tests.peers.feeds import Reply

    feed_server.sequence("/huge.xml", [Reply(200, stream_bytes=2 * 1024**3)])
    integration = connect(owner, "rss", config={"url": feed_server.url("/huge.xml")})
    job = sync(integration)
    assert job.status == JobStatus.FAILED
    assert "over the 2 MB limit" in job.error_message
    assert job.error_class == "config"


def test_a_feed_redirecting_to_localhost_is_refused(owner, feed_server):
    from tests.peers.feeds import Reply

    feed_server.sequence("/moved", [Reply(302, headers={"Location": "http://127.0.0.1:1/admin"})])
    integration = connect(owner, "rss", config={"url": feed_server.url("/moved")})
    job = sync(integration)
    assert job.status == JobStatus.FAILED
    assert "private or internal address" in job.error_message
    assert "public address" in job.remediation


def test_a_feed_that_answers_403_is_a_config_error_about_the_address(owner, feed_server):
    from connectors.errors import ConfigError
    from connectors.registry import registry
    from integrations.models import IntegrationType, Status
    from integrations.sync.context import context_for_test
    from tests.peers.feeds import Reply

    feed_server.sequence("/members.rss", [Reply(403, b"Forbidden")])
    integration = connect(owner, "rss", config={"url": feed_server.url("/members.rss")})
    job = sync(integration)
    assert (job.status, job.error_class) == (JobStatus.FAILED, "config")
    assert "refused access to this feed (HTTP 403)" in job.error_message
    assert "public or still valid" in job.remediation
    assert integration.status == Status.ERROR

    # Connecting a new feed says the same, on the address field, before anything is saved.
    itype = IntegrationType.objects.get(slug="rss")
    connector = registry.get(itype.handler)(context_for_test(itype, {"url": feed_server.url("/members.rss")}, {}))
    with pytest.raises(ConfigError, match=r"refused access to this feed \(HTTP 403\)") as caught:
        connector.test_connection()
    assert caught.value.field == "url"


START = datetime.datetime(2026, 1, 1, 9, tzinfo=datetime.UTC)


def _oldest_first_feed(count: int) -> bytes:
    items = "".join(
        f'<item><guid isPermaLink="false">ep-{n}</guid>'
        f"<title>Episode {n}</title>"
        f"<pubDate>{START + datetime.timedelta(days=n):%a, %d %b %Y %H:%M:%S} +0000</pubDate></item>"
        for n in range(1, count + 1)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Pod</title>{items}</channel></rss>'.encode()


def test_a_feed_listed_oldest_first_still_brings_the_newest_entries(owner, feed_server):
    """RSS does not fix an order, and many podcast feeds list their episodes oldest first: with more
    entries than "Maximum entries per sync", the hub kept the oldest ones and never showed a new
    episode. The newest entries (by date) are the ones kept."""
    feed_server.serve("/pod.rss", _oldest_first_feed(8), content_type="application/rss+xml")
    integration = connect(owner, "rss", config={"url": feed_server.url("/pod.rss"), "max_items": 3})
    sync(integration)
    assert set(live_items(integration).values_list("external_id", flat=True)) == {"ep-6", "ep-7", "ep-8"}

    feed_server.serve("/pod.rss", _oldest_first_feed(9), content_type="application/rss+xml")
    sync(integration)
    assert "ep-9" in set(live_items(integration).values_list("external_id", flat=True))
