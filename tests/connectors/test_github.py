"""GitHub against its contract fake over real HTTP: the search as a direct query and as an
incremental sync, Link pagination, notifications with Last-Modified, and GitHub's errors (bad
token, used-up rate limit, refused search, secondary limits, outages) in plain words."""

import pytest

from connectors.base import Record
from connectors.errors import AuthError, ConfigError, RateLimited
from integrations.models import IntegrationType, JobStatus
from tests.connectors.helpers import live_items, sync
from tests.fakes.contract import open_connector, seed_owner, step_config
from tests.fakes.github import CLASSIC_TOKEN, FINE_GRAINED_TOKEN, GitHubFake, issue


@pytest.fixture
def owner(db):
    return seed_owner("github")


@pytest.fixture
def github(allow_host, settings):
    fake = GitHubFake()
    allow_host(fake.host)
    settings.CONNECTOR_API_BASES = {"github": fake.url}
    fake.items = [
        issue("acme/app", 12, "Login fails on Safari", updated="2026-03-02T10:00:00Z", labels=["bug"],
              body="Steps:\n\n1. open   the page\n2. log in", assignee="octocat"),
        issue("acme/app", 15, "Add dark mode", updated="2026-03-04T08:00:00Z", pr=True, assignee="octocat"),
        issue("acme/docs", 3, "Typo in README", updated="2026-02-20T12:00:00Z", state="closed", assignee="octocat"),
        issue("acme/docs", 4, "Not mine", updated="2026-03-05T12:00:00Z"),
    ]  # fmt: skip
    yield fake
    fake.stop()


def _github(owner, token=CLASSIC_TOKEN, **config):
    defaults = step_config("github", "source")
    return open_connector(owner, "github", secrets={"token": token}, config={**defaults, **config})


def test_github_is_available_and_registered(owner):
    itype = IntegrationType.objects.get(slug="github")
    assert itype.is_available
    assert itype.handler == "github"


def test_query_runs_the_search_for_issues_and_pull_requests_newest_first(owner, github):
    records = _github(owner).query(step_config("github", "source"))  # "is:open assignee:@me"

    assert [r.external_id for r in records] == ["acme/app#15", "acme/app#12"]
    pr, bug = records
    assert isinstance(bug, Record)
    assert bug.kind == "github_issue"
    assert bug.title == "Login fails on Safari"
    assert bug.summary == "Steps: 1. open the page 2. log in"
    assert bug.source_url == "https://github.com/acme/app/issues/12"
    assert bug.occurred_at.isoformat() == "2026-03-02T10:00:00+00:00"
    assert bug.data["repo"] == "acme/app"
    assert bug.data["labels"] == ["bug"]
    assert bug.data["is_pull_request"] is False
    assert pr.data["is_pull_request"] is True
    # GitHub refuses a search without is:issue / is:pull-request: the hub ran one of each.
    searches = github.requests("GET", "/search/issues")
    assert sorted(s.args["q"] for s in searches) == [
        "is:open assignee:@me is:issue",
        "is:open assignee:@me is:pull-request",
    ]
    first = searches[0]
    assert first.headers["Authorization"] == f"Bearer {CLASSIC_TOKEN}"
    assert first.headers["Accept"] == "application/vnd.github+json"
    assert first.headers["X-Github-Api-Version"] == "2022-11-28"
    assert first.args["sort"] == "updated"


def test_link_pagination_is_followed_up_to_the_limit(owner, github):
    github.items = [
        issue("acme/app", n, f"Issue {n}", updated=f"2026-01-01T00:{n // 60:02d}:{n % 60:02d}Z") for n in range(1, 231)
    ]
    records = _github(owner).query(step_config("github", "source", query="repo:acme/app is:issue", limit=230))
    assert len(records) == 230
    assert records[0].external_id == "acme/app#230"
    pages = github.requests("GET", "/search/issues")
    assert [p.args.get("page") for p in pages] == [None, "2", "3"]

    records = _github(owner).query(step_config("github", "source", query="repo:acme/app is:issue", limit=150))
    assert len(records) == 150


def test_a_link_to_another_host_is_not_followed_with_the_token(owner, github):
    github.fail(
        "GET",
        "/search/issues",
        200,
        {"total_count": 2, "incomplete_results": False, "items": [github.items[0]]},
        {"Link": '<https://evil.example/search/issues?page=2>; rel="next"'},
    )
    records = _github(owner).query(step_config("github", "source", query="is:issue", limit=50))
    assert len(records) == 1
    assert len(github.log) == 1


def test_sync_is_incremental_from_the_newest_update_seen(owner, github):
    integration = _github(owner, query="is:issue assignee:@me").ctx.integration
    job = sync(integration)
    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert set(live_items(integration).values_list("external_id", flat=True)) == {"acme/app#12", "acme/docs#3"}
    assert integration.sync_cursor["updated"] == "2026-03-02T10:00:00Z"

    github.items[0]["title"] = "Login fails on Safari 17"
    github.items[0]["updated_at"] = "2026-03-06T09:00:00Z"
    github.items.append(issue("acme/app", 20, "New one", updated="2026-03-06T10:00:00Z", assignee="octocat"))
    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED
    assert (job.created, job.updated) == (1, 1)
    last = github.requests("GET", "/search/issues")[-1]
    assert last.args["q"] == "is:issue assignee:@me updated:>=2026-03-02T10:00:00Z"
    assert last.args["order"] == "asc"
    assert live_items(integration).get(external_id="acme/app#12").title == "Login fails on Safari 17"
    assert integration.sync_cursor["updated"] == "2026-03-06T10:00:00Z"


def test_notifications_sync_with_last_modified(owner, github):
    github.notes = [
        {"id": "901", "unread": True, "reason": "review_requested", "updated_at": "2026-03-06T10:00:00Z",
         "repository": {"full_name": "acme/app"},
         "subject": {"title": "Add dark mode", "type": "PullRequest", "url": "https://api.github.com/repos/acme/app/pulls/15"}},
    ]  # fmt: skip
    integration = _github(owner, query="is:issue assignee:@me", include_notifications=True).ctx.integration
    sync(integration)
    note = live_items(integration).get(external_id="notification:901")
    assert note.title == "Add dark mode"
    assert note.data["reason"] == "review_requested"
    assert note.source_url == "https://github.com/acme/app/pull/15"

    job = sync(integration)
    assert job.status == JobStatus.SUCCEEDED
    last = github.requests("GET", "/notifications")[-1]
    assert last.headers["If-Modified-Since"] == "Fri, 06 Mar 2026 10:00:00 GMT"  # answered 304


def test_notifications_with_a_fine_grained_token_say_what_token_is_needed(owner, github):
    integration = _github(owner, token=FINE_GRAINED_TOKEN, query="is:issue", include_notifications=True)
    job = sync(integration.ctx.integration)
    assert job.status == JobStatus.FAILED
    assert "classic token with the notifications scope" in job.remediation


def test_a_refused_token_asks_for_a_new_one(owner, github):
    with pytest.raises(AuthError, match="The token was refused: create a new personal access token"):
        _github(owner, token="ghp_revoked").query(step_config("github", "source"))
    with pytest.raises(AuthError):
        _github(owner, token="ghp_revoked").test_connection()


def test_a_used_up_rate_limit_waits_until_githubs_reset(owner, github):
    github.exhaust_rate_limit(reset_in=42)
    with pytest.raises(RateLimited, match="rate limit is used up") as exc:
        _github(owner).query(step_config("github", "source", query="is:issue"))
    assert 38 <= exc.value.retry_after <= 43


def test_a_secondary_limit_429_is_waited_out(owner, github):
    github.fail(
        "GET", "/search/issues", 429, {"message": "You have exceeded a secondary rate limit."}, {"Retry-After": "1"}
    )
    records = _github(owner).query(step_config("github", "source", query="is:issue assignee:@me"))
    assert len(records) == 2
    first, second = github.requests("GET", "/search/issues")
    assert second.at - first.at >= 1.0


def test_a_search_github_refuses_is_a_config_error_with_its_message(owner, github):
    with pytest.raises(ConfigError, match="listed users and repositories cannot be searched") as exc:
        _github(owner).query(step_config("github", "source", query="repo:acme/secret is:issue"))
    assert exc.value.field == "query"


def test_5xx_is_retried_then_served(owner, github, fast_backoff):
    github.fail("GET", "/search/issues", 502, "Bad Gateway", times=2)
    assert len(_github(owner).query(step_config("github", "source", query="is:issue assignee:@me"))) == 2
    assert len(github.requests("GET", "/search/issues")) == 3


def test_test_connection_names_the_account(owner, github):
    assert _github(owner).test_connection() == "octocat"


def test_an_issue_closed_since_the_last_sync_stops_showing_as_open(owner, github):
    """The default search is "is:open ...": an issue closed on GitHub no longer matches it, so a sync
    that only asked the same search for what changed never heard of the closing and kept the issue
    here as open. The next sync now drops it (and still takes the other changes)."""
    integration = _github(owner, query="is:issue is:open assignee:@me").ctx.integration
    assert sync(integration).status == JobStatus.SUCCEEDED
    assert set(live_items(integration).values_list("external_id", flat=True)) == {"acme/app#12"}

    github.items[0].update(state="closed", closed_at="2026-03-06T09:00:00Z", updated_at="2026-03-06T09:00:00Z")
    github.items.append(issue("acme/app", 21, "Also new", updated="2026-03-06T10:00:00Z", assignee="octocat"))
    github.items.append(
        issue("acme/app", 22, "Closed long ago", updated="2026-03-06T11:00:00Z", assignee="octocat", state="closed")
    )
    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert (job.created, job.deleted) == (1, 1)
    assert set(live_items(integration).values_list("external_id", flat=True)) == {"acme/app#21"}
    assert integration.sync_cursor["updated"] == "2026-03-06T11:00:00Z"


def test_a_notification_read_on_github_leaves_the_hub(owner, github):
    """Notifications are read unread-only (all=false): one read or marked done on GitHub simply
    leaves GitHub's list, so the hub kept showing it as unread for ever. The list is complete
    whenever it is sent (not 304), so what left it is deleted here; the others stay."""
    subject = {"title": "Ping", "type": "Issue", "url": "https://api.github.com/repos/acme/app/issues/12"}
    note = {"reason": "mention", "updated_at": "2026-03-06T10:00:00Z", "repository": {"full_name": "acme/app"}}
    github.notes = [{**note, "subject": subject, "id": n, "unread": True} for n in ("901", "902")]
    integration = _github(owner, query="is:issue assignee:@me", include_notifications=True).ctx.integration

    def notifications():
        return set(live_items(integration).filter(external_id__startswith="notification:").values_list(
            "external_id", flat=True))  # fmt: skip

    sync(integration)
    assert notifications() == {"notification:901", "notification:902"}

    github.mark_read("901", at="2026-03-07T08:00:00Z")
    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert job.deleted == 1
    assert notifications() == {"notification:902"}
    assert sync(integration).deleted == 0  # unchanged inbox: a 304, nothing taken for gone


def test_a_next_link_to_the_same_page_stops_instead_of_looping_forever(owner, github):
    """A Link header whose rel="next" names a page already read would be followed forever: the sync
    stops with a message naming GitHub, and deletes nothing."""
    again = f'<{github.url}/notifications?all=false&per_page=50&page=2>; rel="next"'
    github.fail("GET", r"/notifications$", 200, [], headers={"Link": again}, times=200)
    integration = _github(owner, query="is:issue assignee:@me", include_notifications=True).ctx.integration

    job = sync(integration)

    # Two requests per try (the engine retries a transient failure a bounded number of times).
    assert len(github.requests("GET", "/notifications")) < 50
    assert job.status != JobStatus.SUCCEEDED
    assert "GitHub" in job.error_message
    assert "same next-page token twice" in job.error_message
