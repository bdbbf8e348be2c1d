"""GitHub: issues and pull requests matching a search, and the user's notifications.

- query(config): a direct query for workflows, GET /search/issues sorted by last update, pages
  followed through the Link header up to the configured limit. GitHub now refuses a search
  without is:issue or is:pull-request (422 "Query must include 'is:issue' or 'is:pull-request'");
  when the user's search names neither, it is run once for each and the results are merged,
  newest first.
- list_changes(cursor): the same search for scheduled syncs, narrowed to updated:>=<the newest
  update already seen> (without an is:open / is:closed qualifier, so an issue that changed state
  is seen and deleted here rather than left showing its old state), plus (when turned on)
  unread notifications fetched with If-Modified-Since / Last-Modified, so an unchanged inbox costs
  one 304; a changed one is listed whole, and a notification read on GitHub is deleted here.

Errors: 401 -> AuthError; 403/429 with X-RateLimit-Remaining: 0 -> RateLimited until
X-RateLimit-Reset (a secondary limit's Retry-After is waited out by the HTTP client); 422 ->
ConfigError with GitHub's own message.

Docs: https://docs.github.com/en/rest/search/search#search-issues-and-pull-requests,
https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api,
https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api,
https://docs.github.com/en/rest/activity/notifications#list-notifications-for-the-authenticated-user
"""

from __future__ import annotations

import datetime
import re
import time

from connectors.base import Batch, Connector, Record
from connectors.errors import AuthError, ConfigError, ItemError, RateLimited, TransientError
from connectors.http import retry_after_seconds
from connectors.paging import PageGuard
from connectors.registry import registry
from connectors.webapi import ANY_STATUS, api_base, json_or_empty, merged_config, same_origin, truncate

API_VERSION = "2022-11-28"
TYPE_QUALIFIER = re.compile(r"(?:^|\s)-?(?:is|type):(?:issue|pr|pull-request)\b", re.I)
UPDATED_QUALIFIER = re.compile(r"(?:^|\s)updated:\S+", re.I)
STATE_QUALIFIER = re.compile(r"(?:^|\s)(?:is|state):(open|closed)\b", re.I)
DEFAULT_QUERY = "is:open assignee:@me"
SEARCH_CAP = 1000  # GitHub returns at most 1,000 results per search


def _when(value: str | None) -> datetime.datetime | None:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _issue_id(raw: dict) -> str:
    """The record id of a searched issue or pull request: owner/repo#number."""
    return f"{raw['repository_url'].rsplit('/repos/', 1)[1]}#{raw['number']}"


def _excerpt(body: str | None, limit: int = 280) -> str:
    return truncate(" ".join((body or "").split()), limit)


@registry.register("github")
class GitHubConnector(Connector):
    # The timeline's kinds (connectors.kinds): how this connector's records are seen there.
    kind_map = {"github_issue": "task", "github_notification": "other"}
    # GitHub counts a personal access token's requests against its user's limit (5,000 an hour),
    # shared by all that user's tokens (docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api).
    rate_limit_scope = "account"

    @property
    def base(self) -> str:
        return api_base("github", "https://api.github.com")

    @property
    def headers(self) -> dict:
        token = self.secrets.get("token")
        if not token:
            raise AuthError("No GitHub token is set.", field="token", remediation="Paste a personal access token.")
        return {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
        }

    def test_connection(self) -> str:
        data = json_or_empty(self._get(f"{self.base}/user"))
        return data.get("login") or "GitHub account"

    # Direct query -------------------------------------------------------------------------------

    def query(self, config: dict) -> list[Record]:
        settings = merged_config(self, config)
        return [self.transform(item) for item in self._search(settings)]

    def _search(self, settings: dict, since: str | None = None) -> list[dict]:
        text = " ".join(str(settings.get("query") or DEFAULT_QUERY).split())
        limit = max(1, min(int(settings.get("limit") or 50), SEARCH_CAP))
        if since:
            text = f"{UPDATED_QUALIFIER.sub('', text).strip()} updated:>={since}"
        searches = [text] if TYPE_QUALIFIER.search(text) else [f"{text} is:issue", f"{text} is:pull-request"]
        # A sync catching up takes the oldest changes first, so its cursor never skips any.
        order = "asc" if since else "desc"
        found: dict[str, dict] = {}
        for q in searches:
            for item in self._search_pages(q, limit, order):
                found[item["html_url"]] = item
        ordered = sorted(found.values(), key=lambda i: i.get("updated_at") or "", reverse=order == "desc")
        return ordered[:limit]

    def _search_pages(self, q: str, limit: int, order: str):
        url = f"{self.base}/search/issues"
        params: dict | None = {"q": q, "sort": "updated", "order": order, "per_page": min(limit, 100)}
        count = 0
        pages = PageGuard("GitHub", what="search")
        while url and count < limit:
            response = self._get(url, params=params)
            for item in json_or_empty(response).get("items", []):
                yield item
                count += 1
                if count >= limit:
                    return
            next_url = pages.follow(response.links.get("next", {}).get("url"))
            # Never send the token to another host, whatever the Link header says.
            url, params = (next_url, None) if next_url and same_origin(next_url, self.base) else (None, None)
            self.ctx.heartbeat()

    # Scheduled sync -----------------------------------------------------------------------------

    def list_changes(self, cursor):
        cursor = dict(cursor or {})
        settings = self.config
        since = cursor.get("updated")
        # An issue closed (or reopened) since the last sync no longer matches an "is:open" search,
        # so asking the same search for what changed would never tell: the catch-up search leaves
        # the state out, and what changed into the other state is deleted here instead of kept.
        query = " ".join(str(settings.get("query") or DEFAULT_QUERY).split())
        states = {s.lower() for s in STATE_QUALIFIER.findall(query)}
        wanted = states.pop() if since and len(states) == 1 else None
        if wanted:
            settings = {**settings, "query": STATE_QUALIFIER.sub("", query).strip()}
        items = self._search(settings, since=since)
        newest = max((i.get("updated_at") or "" for i in items), default="") or since
        cursor = {**cursor, "updated": newest}
        kept = [i for i in items if not wanted or i.get("state") == wanted]
        gone = [
            _issue_id(i)
            for i in items
            if wanted and i.get("state") != wanted and i.get("repository_url") and i.get("number") is not None
        ]
        yield Batch(items=[{"_kind": "issue", **i} for i in kept], deletes=gone, cursor=cursor, total=len(kept))
        if settings.get("include_notifications"):
            notes, last_modified, complete = self._notifications(cursor.get("notifications"))
            cursor = {**cursor, "notifications": last_modified or cursor.get("notifications")}
            # The unread list, when sent (not 304) and read to its end, is the whole inbox: a
            # notification read or marked done on GitHub has left it, and leaves the hub too.
            listed = {f"notification:{n.get('id')}" for n in notes}
            gone = sorted(self.ctx.known_ids("notification:") - listed) if complete else []
            yield Batch(items=[{"_kind": "notification", **n} for n in notes], deletes=gone, cursor=cursor)

    def _notifications(self, since: str | None) -> tuple[list[dict], str | None, bool]:
        """The unread notifications, the list's Last-Modified, and whether the whole list was read
        (False for a 304, or a next page on another host, which is never followed)."""
        headers = {"If-Modified-Since": since} if since else {}
        url, params = f"{self.base}/notifications", {"all": "false", "per_page": 50}
        response = self._get(url, params=params, extra=headers, field="include_notifications")
        if response.status_code == 304:
            return [], since, False
        last_modified = response.headers.get("Last-Modified")
        notes = list(json_or_empty(response).get("_list", []))
        pages = PageGuard("GitHub", what="notifications")
        while next_url := pages.follow(response.links.get("next", {}).get("url")):
            if not same_origin(next_url, self.base):
                return notes, last_modified, False
            response = self._get(next_url, field="include_notifications")
            notes += json_or_empty(response).get("_list", [])
        return notes, last_modified, True

    def transform(self, raw: dict) -> Record:
        if raw.get("_kind") == "notification":
            return self._notification(raw)
        try:
            repo = raw["repository_url"].rsplit("/repos/", 1)[1]
            return Record(
                external_id=_issue_id(raw),
                kind="github_issue",
                title=raw["title"],
                summary=_excerpt(raw.get("body")),
                occurred_at=_when(raw.get("updated_at")),
                source_url=raw.get("html_url", ""),
                version=raw.get("updated_at") or "",
                data={
                    "repo": repo,
                    "number": raw["number"],
                    "state": raw.get("state"),
                    "labels": [label["name"] for label in raw.get("labels", []) if isinstance(label, dict)],
                    "author": (raw.get("user") or {}).get("login"),
                    "assignees": [a.get("login") for a in raw.get("assignees") or []],
                    "is_pull_request": "pull_request" in raw,
                    "draft": bool(raw.get("draft")),
                    "comments": raw.get("comments", 0),
                    "created_at": raw.get("created_at"),
                    "closed_at": raw.get("closed_at"),
                },
            )
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise ItemError(f"GitHub sent an item without {exc}", external_id=str(raw.get("id", ""))) from exc

    def _notification(self, raw: dict) -> Record:
        subject, repo = raw.get("subject") or {}, (raw.get("repository") or {}).get("full_name", "")
        api_url = subject.get("url") or ""
        link = f"https://github.com/{repo}"
        if "/repos/" in api_url:
            link = "https://github.com/" + api_url.split("/repos/", 1)[1].replace("/pulls/", "/pull/")
        return Record(
            external_id=f"notification:{raw['id']}",
            kind="github_notification",
            title=subject.get("title", ""),
            summary=f"{raw.get('reason', '').replace('_', ' ')} · {repo}",
            occurred_at=_when(raw.get("updated_at")),
            source_url=link,
            version=raw.get("updated_at") or "",
            data={"repo": repo, "reason": raw.get("reason"), "type": subject.get("type"), "unread": raw.get("unread")},
        )

    # HTTP ---------------------------------------------------------------------------------------

    def _get(self, url: str, *, params=None, extra: dict | None = None, field: str = "query"):
        response = self.http.get(url, params=params, headers={**self.headers, **(extra or {})}, ok=ANY_STATUS)
        status = response.status_code
        if 200 <= status < 300 or status == 304:
            return response
        data = json_or_empty(response)
        message = self.quote(data.get("message")) or f"HTTP {status}"
        if status == 401:
            raise AuthError(
                "The token was refused: create a new personal access token and paste it here.",
                field="token",
                remediation="Create a token at github.com/settings/tokens (it may have expired or been revoked).",
            )
        if status in (403, 429) and response.headers.get("X-RateLimit-Remaining") == "0":
            reset = response.headers.get("X-RateLimit-Reset", "")
            wait = max(0.0, int(reset) - time.time()) if reset.isdigit() else None
            raise RateLimited(f"GitHub's rate limit is used up ({message}).", retry_after=wait)
        if status in (403, 429) and response.headers.get("Retry-After"):
            raise RateLimited(f"GitHub asked us to slow down ({message}).", retry_after=retry_after_seconds(response))
        if status == 403:
            if field == "include_notifications":
                raise ConfigError(
                    f"GitHub refused to list notifications: {message}.",
                    field=field,
                    remediation="Notifications need a classic token with the notifications scope; or turn them off.",
                )
            raise AuthError(
                f"GitHub denied access: {message}.",
                remediation="Give the token read access to issues and pull requests of these repositories.",
            )
        if status == 422:
            errors = [e.get("message") for e in data.get("errors", []) if isinstance(e, dict) and e.get("message")]
            raise ConfigError(
                f"GitHub did not accept the search: {self.quote(errors[0]) if errors else message}",
                field="query",
                remediation="Fix the search; it uses GitHub's issue search syntax (try it on github.com/issues).",
            )
        if status >= 500:
            raise TransientError(f"GitHub had an error (HTTP {status}).")
        raise ConfigError(f"GitHub answered HTTP {status}: {message}")
