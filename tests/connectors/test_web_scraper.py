"""The page watcher against a real local web site: CSS selectors to records, robots.txt always
respected (RFC 9309 longest match and wildcards), the SSRF guard, and selector mistakes named."""

import datetime

import pytest

from connectors.errors import BlockedDestination, ConfigError, ResponseTooLarge, TransientError
from connectors.web_scraper import RobotsRules
from integrations.models import IntegrationType, JobStatus
from tests.connectors.helpers import live_items, sync
from tests.fakes.contract import open_connector, seed_owner, step_config
from tests.fakes.website import WebsiteFake

SELECTORS = {
    "item_selector": "article.post",
    "title_selector": "h2.title",
    "link_selector": "a.more",
    "summary_selector": "p.teaser",
}


@pytest.fixture
def owner(db):
    return seed_owner("web-scraper")


@pytest.fixture
def site(allow_host):
    fake = WebsiteFake()
    allow_host(fake.host)
    fake.serve("/news", "news.html")
    yield fake
    fake.stop()


def _scraper(owner, site, path="/news", **selectors):
    config = {"url": f"{site.url}{path}", **step_config("web-scraper", "source", **{**SELECTORS, **selectors})}
    return open_connector(owner, "web-scraper", config=config)


def test_the_page_watcher_is_available_and_registered(owner):
    itype = IntegrationType.objects.get(slug="web-scraper")
    assert itype.is_available
    assert itype.handler == "web_scraper"


def test_entries_become_records_with_absolute_links(owner, site):
    records = _scraper(owner, site).query({})

    assert [r.title for r in records] == [
        "Café opens on the river bank",
        "Bridge closed for repairs",
        "Council meeting moved",
    ]
    cafe, bridge, council = records
    assert cafe.external_id == cafe.source_url == f"{site.url}/news/cafe-opens?ref=list"  # relative, resolved
    assert cafe.summary == "The new café serves coffee and cake — every day from 8:00."
    assert cafe.occurred_at == datetime.datetime(2026, 3, 2, 8, 30, tzinfo=datetime.UTC)
    assert cafe.kind == "web_item"
    assert cafe.data["page_url"] == f"{site.url}/news"
    assert bridge.source_url == "https://other.example.org/bridge"  # the duplicate entry is kept once
    assert council.source_url == ""  # javascript: links are dropped
    assert council.external_id.startswith("title:")
    robots, page = site.log
    assert robots.path == "/robots.txt"  # asked first, every time
    assert robots.headers["User-Agent"].startswith("MetaCortex/")
    assert page.path == "/news"


def test_a_page_disallowed_by_robots_txt_is_never_fetched(owner, site):
    site.robots = "User-agent: *\nAllow: /\n\nUser-agent: MetaCortex\nDisallow: /news\n"
    with pytest.raises(
        ConfigError, match=r"robots\.txt of 127\.0\.0\.1 does not allow automated access to /news"
    ) as exc:
        _scraper(owner, site).query({})
    assert exc.value.field == "url"
    assert [s.path for s in site.log] == ["/robots.txt"]


def test_the_longest_robots_rule_wins_as_rfc_9309_says(owner, site):
    # urllib.robotparser would take the first rule (Disallow: /) and refuse; RFC 9309 allows it.
    site.robots = "User-agent: *\nDisallow: /\nAllow: /news\n"
    assert len(_scraper(owner, site).query({})) == 3


@pytest.mark.parametrize(
    ("robots", "path", "allowed"),
    [
        ("User-agent: *\nDisallow: /*.pdf$", "/files/report.pdf", False),
        ("User-agent: *\nDisallow: /*.pdf$", "/files/report.pdf?x=1", True),
        ("User-agent: *\nDisallow: /private/\nAllow: /private/public", "/private/public/a", True),
        ("User-agent: *\nDisallow: /page\nAllow: /page", "/page", True),  # a tie goes to Allow
        ("User-agent: *\nDisallow: /\n\nUser-agent: metacortex\nAllow: /", "/anything", True),  # our group wins
        ("User-agent: *\nDisallow:", "/anything", True),  # an empty Disallow disallows nothing
        ("User-agent: OtherBot\nDisallow: /", "/anything", True),
        ("User-agent: a\nUser-agent: MetaCortex/1.0\nDisallow: /x", "/x/y", False),
        ("User-agent: *\nDisallow: /caf%C3%A9", "/café", False),  # percent-encoding compared decoded
        ("User-agent: *\nDisallow: /", "/robots.txt", True),
    ],
)
def test_robots_rules(robots, path, allowed):
    assert RobotsRules(robots).allows(f"https://example.com{path}") is allowed


def test_a_missing_robots_txt_allows_everything(owner, site):
    site.robots = None
    assert len(_scraper(owner, site).query({})) == 3


def test_an_unreachable_robots_txt_means_disallowed_for_now(owner, site, fast_backoff):
    site.robots_status = 503
    with pytest.raises(TransientError, match="until it can be read, the site counts as disallowed"):
        _scraper(owner, site).query({})
    assert {s.path for s in site.log} == {"/robots.txt"}  # the page was never asked for


def test_a_loopback_page_is_refused_by_the_ssrf_guard(owner, site, settings):
    settings.SSRF_ALLOWED_HOSTS = []
    with pytest.raises(BlockedDestination, match="private or internal address"):
        _scraper(owner, site).query({})
    assert site.log == []


def test_a_selector_matching_nothing_is_named(owner, site):
    with pytest.raises(ConfigError, match=r'The entry selector "div\.story" matched nothing') as exc:
        _scraper(owner, site, item_selector="div.story").query({})
    assert exc.value.field == "item_selector"
    with pytest.raises(ConfigError, match=r'The summary selector "p\.lede" matched nothing inside any entry') as exc:
        _scraper(owner, site, summary_selector="p.lede").query({})
    assert exc.value.field == "summary_selector"


def test_invalid_css_is_a_settings_error(owner, site):
    with pytest.raises(ConfigError, match='The selector "article\\[" is not valid CSS') as exc:
        _scraper(owner, site, item_selector="article[").query({})
    assert exc.value.field == "item_selector"


def test_legacy_encodings_and_base_href_are_honoured(owner, site):
    site.serve("/latin", "latin1.html", content_type="text/html; charset=iso-8859-1")
    records = _scraper(
        owner, site, "/latin", item_selector="div.entry", title_selector="h3", link_selector="a", summary_selector=""
    ).query({})
    assert [r.title for r in records] == ["Crème brûlée night", "Grüße aus Köln"]
    assert [r.source_url for r in records] == [
        "https://mirror.example.net/blog/posts/creme",
        "https://mirror.example.net/koeln",
    ]


def test_something_that_is_not_a_page_is_refused(owner, site):
    site.serve_bytes("/feed.json", b'{"items": []}', "application/json")
    with pytest.raises(ConfigError, match="did not return a web page \\(it sent application/json\\)"):
        _scraper(owner, site, "/feed.json").query({})


def test_a_huge_page_is_cut_off_at_the_cap(owner, site, settings):
    settings.OUTBOUND_MAX_BYTES = 64 * 1024
    site.serve_bytes("/huge", b"<html><body>" + b"<p>filler</p>" * 20_000 + b"</body></html>", "text/html")
    with pytest.raises(ResponseTooLarge):
        _scraper(owner, site, "/huge").query({})


def test_a_scheduled_check_adds_only_new_entries(owner, site):
    integration = _scraper(owner, site).ctx.integration
    assert sync(integration).created == 3
    html = (site.pages["/news"][0]).replace(
        b"<main>",
        b'<main><article class="post"><h2 class="title">Fresh</h2><a class="more" href="/fresh">r</a></article>',
    )
    site.serve_bytes("/news", html, "text/html; charset=utf-8")
    job = sync(integration)
    assert job.status == JobStatus.SUCCEEDED
    assert (job.created, job.unchanged) == (1, 3)
    assert live_items(integration).count() == 4


def test_test_connection_reports_what_it_found(owner, site):
    assert (
        _scraper(owner, site).test_connection() == '127.0.0.1: 3 entries found (first: "Café opens on the river bank")'
    )
