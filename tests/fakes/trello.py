"""Contract fake of the Trello REST API (members, boards, lists, cards).

Follows
- https://developer.atlassian.com/cloud/trello/guides/rest-api/api-introduction/: key and token
  in the Authorization header (OAuth oauth_consumer_key="...", oauth_token="..."); a wrong token
  gets 401 "invalid token" in plain text.
- https://developer.atlassian.com/cloud/trello/rest/api-group-members/ GET /1/members/me,
  /1/members/me/boards?filter=open; api-group-boards GET /1/boards/{id} (id or short link),
  /1/boards/{id}/lists?filter=all, /1/boards/{id}/cards/{filter} with limit (max 1000) and
  before=<id>, newest first; 400 "invalid id" for a malformed id, 404 for an unknown one.
- api-group-lists GET /1/lists/{id}/cards; api-group-cards POST /1/cards (idList required; name and desc
  of 0 to 16384 characters, 400 "invalid value for desc" otherwise).
- https://developer.atlassian.com/cloud/trello/guides/rest-api/rate-limits/: 100 requests per
  10 s per token, then 429 with a JSON body and no Retry-After or rate-limit headers. The window
  is a class setting so tests can shrink it.
"""

from __future__ import annotations

import itertools
import time

from werkzeug import Response

from tests.fakes.contract import ContractFake

API_KEY = "0123456789abcdef0123456789abcdef"
TOKEN = "ATTAfaketoken0123456789abcdef"
ME = "5f0000000000000000000001"
OTHER = "5f0000000000000000000002"


def trello_id(seconds: int, n: int) -> str:
    """An ObjectId-like id: creation time in its first eight hex digits."""
    return f"{seconds:08x}{n:016x}"


class TrelloFake(ContractFake):
    ROUTES = [
        ("GET", r"/1/members/me", "me"),
        ("GET", r"/1/members/me/boards", "my_boards"),
        ("GET", r"/1/boards/(?P<ref>[^/]+)", "board"),
        ("GET", r"/1/boards/(?P<ref>[^/]+)/lists", "board_lists"),
        ("GET", r"/1/boards/(?P<ref>[^/]+)/cards/(?P<which>\w+)", "board_cards"),
        ("GET", r"/1/lists/(?P<list_id>[^/]+)/cards", "list_cards"),
        ("POST", r"/1/cards", "create_card"),
    ]
    LIMIT, WINDOW = 100, 10.0

    def __init__(self):
        super().__init__()
        self.boards: dict[str, dict] = {}
        self.lists: dict[str, dict] = {}
        self.cards: dict[str, dict] = {}
        self.rate_limited: list[float] = []
        self._hits: list[float] = []
        self._ids = itertools.count(1)

    def add_board(self, name: str, short_link: str, closed: bool = False) -> str:
        board_id = trello_id(1_700_000_000, next(self._ids))
        self.boards[board_id] = {
            "id": board_id, "name": name, "desc": "", "url": f"https://trello.com/b/{short_link}/{name.lower()}",
            "shortLink": short_link, "closed": closed, "dateLastActivity": "2026-12-01T10:00:00.000Z",
            "idOrganization": None,
        }  # fmt: skip
        return board_id

    def add_list(self, board_id: str, name: str) -> str:
        list_id = trello_id(1_700_000_100, next(self._ids))
        self.lists[list_id] = {"id": list_id, "name": name, "closed": False, "pos": 1024, "idBoard": board_id}
        return list_id

    def add_card(self, list_id: str, name: str, created: int = 1_750_000_000, **extra) -> str:
        card_id = trello_id(created, next(self._ids))
        self.cards[card_id] = {
            "id": card_id, "name": name, "desc": "", "due": None, "dueComplete": False, "start": None,
            "closed": False, "idList": list_id, "idBoard": self.lists[list_id]["idBoard"], "idMembers": [ME],
            "labels": [], "url": f"https://trello.com/c/{card_id[-8:]}/{name.lower().replace(' ', '-')}",
            "shortUrl": f"https://trello.com/c/{card_id[-8:]}", "dateLastActivity": "2026-12-01T10:00:00.000Z",
            "pos": 16384, **extra,
        }  # fmt: skip
        return card_id

    # Protocol ----------------------------------------------------------------------------------

    def _checks(self, request):
        expected = f'OAuth oauth_consumer_key="{API_KEY}", oauth_token="{TOKEN}"'
        if request.headers.get("Authorization") != expected:
            return Response("invalid token", status=401, content_type="text/plain")
        now = time.monotonic()
        with self._lock:
            self._hits = [t for t in self._hits if t > now - self.WINDOW]
            limited = len(self._hits) >= self.LIMIT
            if limited:
                self.rate_limited.append(now)
            else:
                self._hits.append(now)
        if limited:
            body = {"error": "API_TOKEN_LIMIT_EXCEEDED", "message": "Rate limit exceeded"}
            return self.json(body, status=429)  # no Retry-After, no X-Rate-Limit headers
        return None

    @staticmethod
    def _fields(row: dict, request) -> dict:
        fields = request.args.get("fields")
        if not fields or fields == "all":
            return dict(row)
        return {"id": row["id"], **{f: row.get(f) for f in fields.split(",")}}

    def _board_id(self, ref: str):
        if len(ref) not in (8, 24):
            return None, Response("invalid id", status=400, content_type="text/plain")
        for board_id, board in self.boards.items():
            if ref in (board_id, board["shortLink"]):
                return board_id, None
        return None, Response("The requested resource was not found.", status=404, content_type="text/plain")

    def me(self, request, seen):
        return self._checks(request) or self.json(
            self._fields({"id": ME, "username": "me", "fullName": "Me Myself"}, request)
        )

    def my_boards(self, request, seen):
        if refused := self._checks(request):
            return refused
        boards = [b for b in self.boards.values() if request.args.get("filter") != "open" or not b["closed"]]
        return self.json([self._fields(b, request) for b in boards])

    def board(self, request, seen, ref):
        if refused := self._checks(request):
            return refused
        board_id, missing = self._board_id(ref)
        return missing or self.json(self._fields(self.boards[board_id], request))

    def board_lists(self, request, seen, ref):
        if refused := self._checks(request):
            return refused
        board_id, missing = self._board_id(ref)
        if missing:
            return missing
        return self.json([self._fields(li, request) for li in self.lists.values() if li["idBoard"] == board_id])

    def board_cards(self, request, seen, ref, which):
        if refused := self._checks(request):
            return refused
        board_id, missing = self._board_id(ref)
        if missing:
            return missing
        cards = [c for c in self.cards.values() if c["idBoard"] == board_id]
        if which in ("open", "visible"):
            cards = [c for c in cards if not c["closed"]]
        cards.sort(key=lambda c: c["id"], reverse=True)  # newest first, as Trello pages them
        if before := request.args.get("before"):
            cards = [c for c in cards if c["id"] < before]
        limit = min(int(request.args.get("limit") or 1000), 1000)
        return self.json([self._fields(c, request) for c in cards[:limit]])

    def list_cards(self, request, seen, list_id):
        if refused := self._checks(request):
            return refused
        if list_id not in self.lists:
            return Response("The requested resource was not found.", status=404, content_type="text/plain")
        return self.json([self._fields(c, request) for c in self.cards.values() if c["idList"] == list_id])

    def create_card(self, request, seen):
        if refused := self._checks(request):
            return refused
        body = seen.json or {}
        list_id = body.get("idList") or ""
        if len(list_id) != 24:
            return Response("invalid value for idList", status=400, content_type="text/plain")
        if list_id not in self.lists:
            return Response("The requested resource was not found.", status=404, content_type="text/plain")
        if len(body.get("desc") or "") > 16384 or len(body.get("name") or "") > 16384:  # "0 to 16384 characters"
            return Response("invalid value for desc", status=400, content_type="text/plain")
        card_id = self.add_card(list_id, body.get("name", ""), desc=body.get("desc", ""), due=body.get("due"))
        return self.json(self.cards[card_id])
