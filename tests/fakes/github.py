"""Contract fake of the GitHub REST API (search, user, notifications).

Follows
- https://docs.github.com/en/rest/search/search#search-issues-and-pull-requests: GET
  /search/issues?q=&sort=updated&order=&per_page=&page= -> {"total_count", "incomplete_results",
  "items": [...]}; a query without is:issue / is:pull-request is refused with 422 {"message":
  "Query must include 'is:issue' or 'is:pull-request'"} (enforced since the 2025 search update);
  a repository that does not exist or is not visible: 422 "Validation Failed" with errors[].message
  "The listed users and repositories cannot be searched ...".
- https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api: the Link
  header with absolute rel="next" / rel="last" URLs.
- https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api: X-RateLimit-*
  headers; when used up, 403 {"message": "API rate limit exceeded for user ID 1. ..."} with
  X-RateLimit-Remaining: 0 and X-RateLimit-Reset (epoch seconds).
- https://docs.github.com/en/rest/users/users#get-the-authenticated-user, 401 {"message": "Bad
  credentials", "documentation_url": ..., "status": "401"}.
- https://docs.github.com/en/rest/activity/notifications: Last-Modified / If-Modified-Since ->
  304; fine-grained tokens get 403 "Resource not accessible by personal access token". Without
  all=true the list holds only unread notifications: one read (or marked done) on GitHub leaves
  it, and the inbox's Last-Modified moves (mark_read()).
"""

from __future__ import annotations

import datetime
import email.utils
import re
import time
from urllib.parse import urlencode

from werkzeug import Response

from tests.fakes.contract import ContractFake

CLASSIC_TOKEN = "ghp_classic000000000000000000000000000"
FINE_GRAINED_TOKEN = "github_pat_11AAAAAA_fine"
DOCS = "https://docs.github.com/rest"


def issue(repo, number, title, *, updated, body="", state="open", labels=(), author="octocat", pr=False, assignee=None):
    item = {
        "id": hash((repo, number)) & 0xFFFFFFF,
        "number": number,
        "title": title,
        "body": body,
        "state": state,
        "labels": [{"id": i, "name": name, "color": "ededed"} for i, name in enumerate(labels)],
        "user": {"login": author, "id": 1},
        "assignees": [{"login": assignee}] if assignee else [],
        "comments": 2,
        "created_at": "2026-01-01T09:00:00Z",
        "updated_at": updated,
        "closed_at": None,
        "html_url": f"https://github.com/{repo}/{'pull' if pr else 'issues'}/{number}",
        "repository_url": f"https://api.github.com/repos/{repo}",
        "score": 1.0,
    }
    if pr:
        item["pull_request"] = {"url": f"https://api.github.com/repos/{repo}/pulls/{number}", "merged_at": None}
        item["draft"] = False
    return item


class GitHubFake(ContractFake):
    ROUTES = [
        ("GET", r"/search/issues", "search"),
        ("GET", r"/user", "user"),
        ("GET", r"/notifications", "notifications"),
    ]

    def __init__(self):
        super().__init__()
        self.tokens = {CLASSIC_TOKEN: "octocat", FINE_GRAINED_TOKEN: "octocat"}
        self.items: list[dict] = []
        self.notes: list[dict] = []
        self.inbox_modified = "2026-01-01T00:00:00Z"  # when a notification was last read on GitHub
        self.repos = {"acme/app", "acme/docs"}
        self.remaining = 30
        self.reset_at = int(time.time()) + 60

    def exhaust_rate_limit(self, reset_in: int = 42):
        self.remaining, self.reset_at = 0, int(time.time()) + reset_in

    def _rate_headers(self) -> dict:
        return {
            "X-RateLimit-Limit": "30",
            "X-RateLimit-Remaining": str(max(self.remaining, 0)),
            "X-RateLimit-Reset": str(self.reset_at),
            "X-RateLimit-Resource": "search",
        }

    def _login(self, request):
        header = request.headers.get("Authorization", "")
        token = header.split(" ", 1)[1] if " " in header else ""
        if not header:
            return None, self.json(
                {"message": "Requires authentication", "documentation_url": DOCS, "status": "401"}, 401
            )
        if token not in self.tokens:
            return None, self.json({"message": "Bad credentials", "documentation_url": DOCS, "status": "401"}, 401)
        return token, None

    def user(self, request, seen):
        token, refused = self._login(request)
        if refused:
            return refused
        return self.json({"login": self.tokens[token], "id": 1, "name": "The Octocat", "type": "User"})

    def search(self, request, seen):
        token, refused = self._login(request)
        if refused:
            return refused
        if self.remaining <= 0:
            body = {
                "message": "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, "
                "please include the request ID.",
                "documentation_url": f"{DOCS}/overview/rate-limits-for-the-rest-api",
            }
            return self.json(body, 403, self._rate_headers())
        self.remaining -= 1
        q = request.args.get("q", "")
        if not re.search(r"(?:^|\s)(?:is|type):(?:issue|pr|pull-request)\b", q):
            body = {
                "message": "Query must include 'is:issue' or 'is:pull-request'",
                "documentation_url": f"{DOCS}/search/search#search-issues-and-pull-requests",
                "status": "422",
            }
            return self.json(body, 422, self._rate_headers())
        for repo in re.findall(r"repo:(\S+)", q):
            if repo not in self.repos:
                error = {
                    "message": "The listed users and repositories cannot be searched either because the resources "
                    "do not exist or you do not have permission to view them.",
                    "resource": "Search",
                    "field": "q",
                    "code": "invalid",
                }
                return self.json({"message": "Validation Failed", "errors": [error], "documentation_url": DOCS}, 422)
        matched = [i for i in self.items if _matches(i, q, self.tokens[token])]
        matched.sort(key=lambda i: i["updated_at"], reverse=request.args.get("order", "desc") == "desc")
        per_page = min(int(request.args.get("per_page", 30)), 100)
        page = int(request.args.get("page", 1))
        chunk = matched[(page - 1) * per_page : page * per_page]
        headers = self._rate_headers()
        last = max(1, -(-len(matched) // per_page))
        if page < last:
            params = {k: v for k, v in request.args.items() if k != "page"}
            links = [
                f'<{self.url}/search/issues?{urlencode({**params, "page": page + 1})}>; rel="next"',
                f'<{self.url}/search/issues?{urlencode({**params, "page": last})}>; rel="last"',
            ]
            headers["Link"] = ", ".join(links)
        return self.json({"total_count": len(matched), "incomplete_results": False, "items": chunk}, 200, headers)

    def mark_read(self, note_id: str, at: str):
        """The person reads the notification on GitHub: it leaves the unread list."""
        next(n for n in self.notes if n["id"] == note_id)["unread"] = False
        self.inbox_modified = at

    def notifications(self, request, seen):
        token, refused = self._login(request)
        if refused:
            return refused
        if token.startswith("github_pat_"):
            body = {
                "message": "Resource not accessible by personal access token",
                "documentation_url": f"{DOCS}/activity/notifications",
                "status": "403",
            }
            return self.json(body, 403)
        newest = max([self.inbox_modified, *(n["updated_at"] for n in self.notes)])
        stamp = email.utils.format_datetime(datetime.datetime.fromisoformat(newest.replace("Z", "+00:00")), usegmt=True)
        headers = {"Last-Modified": stamp, "X-Poll-Interval": "60"}
        if request.headers.get("If-Modified-Since") == stamp:
            return Response(status=304, headers=headers)
        unread = [n for n in self.notes if n["unread"]]
        return self.json(unread, 200, headers)


def _matches(item: dict, q: str, login: str) -> bool:
    is_pr = "pull_request" in item
    repo = item["repository_url"].rsplit("/repos/", 1)[1]
    for token in q.split():
        key, _, value = token.partition(":")
        value = login if value == "@me" else value
        if key in ("is", "type") and value in ("issue",) and is_pr:
            return False
        if key in ("is", "type") and value in ("pr", "pull-request") and not is_pr:
            return False
        if key == "is" and value in ("open", "closed") and item["state"] != value:
            return False
        if key == "repo" and repo != value:
            return False
        if key == "label" and value not in {label["name"] for label in item["labels"]}:
            return False
        if key == "assignee" and value not in {a["login"] for a in item["assignees"]}:
            return False
        if key == "author" and item["user"]["login"] != value:
            return False
        if key == "updated" and value.startswith(">=") and item["updated_at"] < value[2:].replace("+00:00", "Z"):
            return False
        if not _ and token.lower() not in (item["title"] + " " + item["body"]).lower():
            return False
    return True
