"""Trello: boards, lists and cards in; a card created on a list as a workflow output.

Every request carries the API key and token in the Authorization header (`OAuth
oauth_consumer_key="...", oauth_token="..."`), never in the URL, so they stay out of logs.

Source: the chosen boards (IDs or short links) or every open board of the member
(GET /1/members/me/boards), then per board GET /1/boards/{id}/lists?filter=all and
GET /1/boards/{id}/cards/visible, paged with limit=1000 and before=<oldest card id>. Trello has
no change feed for cards, so each sync lists the boards completely; unchanged cards cost nothing
(their dateLastActivity is the record version) and cards archived or deleted in Trello are deleted
here once every board was read. "Only cards assigned to me" keeps cards whose members include you.

Output: POST /1/cards on the configured list (name, desc, due, pos). Trello has no idempotency
key, so the card's delivery key goes on the last line of the description and the list's cards are
read once per delivery: a card already delivered is not created again.

Limits: 100 requests per 10 s per token (300 per 10 s per API key). The blueprint's window (90
per 10 s) keeps the hub under it. Trello answers 429 without Retry-After or rate-limit headers:
the HTTP client backs off and retries, and when that is not enough the engine waits a whole
window (RateLimited with retry_after=10).

Errors (mostly plain text): 401 "invalid token" / "unauthorized permission requested" -> a new
token; 403 -> access; 404 / 400 "invalid id" -> the board or list; 429 -> waited out; 5xx ->
transient.

Docs: https://developer.atlassian.com/cloud/trello/guides/rest-api/api-introduction/ (auth
header), https://developer.atlassian.com/cloud/trello/guides/rest-api/rate-limits/,
https://developer.atlassian.com/cloud/trello/rest/api-group-boards/ (lists, cards, paging),
https://developer.atlassian.com/cloud/trello/rest/api-group-cards/#api-cards-post.
"""

from __future__ import annotations

import datetime
import re

from connectors.base import Batch, Connector, Delivery, Record
from connectors.errors import AuthError, ConfigError, ItemError, RateLimited, TransientError
from connectors.http import retry_after_seconds
from connectors.paging import PageGuard
from connectors.registry import registry
from connectors.webapi import ANY_STATUS, api_base, deliver_each, json_or_empty, merged_config, truncate

PAGE = 1000  # Trello's maximum for limit=
TEXT_MAX = 16384  # a card's name and description: "0 to 16384 characters"
CUT_NOTE = "\n\n… (cut: the rest did not fit in a Trello card)"
WINDOW_SECONDS = 10.0  # Trello's per-token window: a 429 clears once it has passed
CARD_FIELDS = "name,desc,due,dueComplete,start,closed,idList,idBoard,idMembers,labels,url,shortUrl,dateLastActivity,pos"
KEY_LINE = re.compile(r"^Delivery key: (\S+)$", re.M)
TRELLO_ID = re.compile(r"^[0-9a-fA-F]{24}$|^[A-Za-z0-9]{8}$")


def _when(value: str | None) -> datetime.datetime | None:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _iso(value: str | None) -> str | None:
    when = _when(value)
    return when.isoformat() if when else None


def created_at(trello_id: str) -> datetime.datetime | None:
    """Trello ids are MongoDB ObjectIds: their first eight hex digits are the creation time."""
    try:
        return datetime.datetime.fromtimestamp(int(trello_id[:8], 16), tz=datetime.UTC)
    except (ValueError, TypeError, OverflowError):
        return None


def _board_refs(value) -> list[str]:
    if isinstance(value, str):
        value = re.split(r"[\s,]+", value)
    refs = []
    for ref in value or []:
        ref = str(ref).strip()
        match = re.search(r"trello\.com/b/([A-Za-z0-9]+)", ref)
        if match:
            ref = match.group(1)
        if ref:
            refs.append(ref)
    return refs


@registry.register("trello")
class TrelloConnector(Connector):
    @property
    def base(self) -> str:
        return api_base("trello", "https://api.trello.com")

    def _call(self, method: str, path: str, *, params=None, field: str | None = None, **kwargs):
        key, token = self.secrets.get("api_key"), self.secrets.get("token")
        if not key or not token:
            raise AuthError("The Trello API key or token is missing.", field="token" if key else "api_key")
        headers = {"Authorization": f'OAuth oauth_consumer_key="{key}", oauth_token="{token}"'}
        response = self.http.request(
            method, f"{self.base}/1{path}", params=params, headers=headers, ok=ANY_STATUS, **kwargs
        )
        if 200 <= response.status_code < 300:
            data = json_or_empty(response)
            return data.get("_list", data)
        raise self._error(response, field)

    def test_connection(self) -> str:
        me = self._call("GET", "/members/me", params={"fields": "username,fullName"})
        return f"{me.get('fullName') or me.get('username')} (@{me.get('username')})"

    # Source -------------------------------------------------------------------------------------

    def list_changes(self, cursor):
        me = self._call("GET", "/members/me", params={"fields": "id,username"})
        board_fields = "name,desc,url,shortLink,closed,dateLastActivity,idOrganization"
        refs = _board_refs(self.config.get("boards"))
        if refs:
            boards = [
                self._call("GET", f"/boards/{ref}", params={"fields": board_fields}, field="boards") for ref in refs
            ]
        else:
            boards = self._call("GET", "/members/me/boards", params={"filter": "open", "fields": board_fields})
        only_mine = bool(self.config.get("only_mine"))
        seen: set[str] = set()
        for board in boards:
            lists = self._call(
                "GET", f"/boards/{board['id']}/lists", params={"filter": "all", "fields": "name,closed,pos,idBoard"}
            )
            names = {item["id"]: item.get("name", "") for item in lists}
            cards = [
                card
                for card in self._cards(board["id"])
                if not only_mine or me.get("id") in (card.get("idMembers") or [])
            ]
            items = [{"_type": "board", **board}]
            items += [{"_type": "list", **item, "_board": board.get("name", "")} for item in lists]
            items += [
                {"_type": "card", **card, "_board": board.get("name", ""), "_list": names.get(card.get("idList"), "")}
                for card in cards
            ]
            seen.update(f"{i['_type']}:{i['id']}" for i in items)
            yield Batch(items=items, cursor=cursor, total=len(items))
            self.ctx.heartbeat()
        # Every board was read in full: what the hub holds and Trello no longer lists is gone.
        deletes = sorted(gone for prefix in ("board:", "list:", "card:") for gone in self.ctx.known_ids(prefix) - seen)
        yield Batch(deletes=deletes, cursor=cursor)

    def _cards(self, board_id: str) -> list[dict]:
        cards, before = [], None
        pages = PageGuard("Trello", what="cards")
        while True:
            params = {"fields": CARD_FIELDS, "limit": PAGE, **({"before": before} if before else {})}
            page = self._call("GET", f"/boards/{board_id}/cards/visible", params=params)
            cards += page
            if len(page) < PAGE:
                return cards
            before = pages.follow(min(card["id"] for card in page))  # ObjectIds sort by creation time
            self.ctx.heartbeat()

    def transform(self, raw: dict) -> Record:
        try:
            build = {"board": self._board, "list": self._list, "card": self._card}[raw["_type"]]
            return build(raw)
        except (KeyError, ValueError, TypeError) as exc:
            what = raw.get("_type", "record")
            raise ItemError(f"Trello sent a {what} without {exc}", external_id=str(raw.get("id", ""))) from exc

    def _board(self, raw: dict) -> Record:
        return Record(
            external_id=f"board:{raw['id']}",
            kind="trello_board",
            title=raw["name"],
            summary=truncate(raw.get("desc") or "", 280),
            occurred_at=created_at(raw["id"]),
            source_url=raw.get("url") or "",
            version=raw.get("dateLastActivity") or "",
            data={
                "board_id": raw["id"],
                "short_link": raw.get("shortLink"),
                "closed": bool(raw.get("closed")),
                "last_activity": _iso(raw.get("dateLastActivity")),
                "organization_id": raw.get("idOrganization"),
            },
        )

    def _list(self, raw: dict) -> Record:
        return Record(
            external_id=f"list:{raw['id']}",
            kind="trello_list",
            title=raw["name"],
            summary=raw.get("_board", ""),
            occurred_at=created_at(raw["id"]),
            data={
                "list_id": raw["id"],
                "board_id": raw.get("idBoard"),
                "board": raw.get("_board", ""),
                "closed": bool(raw.get("closed")),
                "position": raw.get("pos"),
            },
        )

    def _card(self, raw: dict) -> Record:
        labels = [label.get("name") or label.get("color") or "" for label in raw.get("labels") or []]
        url = raw.get("url") or raw.get("shortUrl") or ""
        return Record(
            external_id=f"card:{raw['id']}",
            kind="task",
            title=raw["name"],
            summary=truncate(" ".join((raw.get("desc") or "").split()), 280),
            occurred_at=_when(raw.get("due")) or created_at(raw["id"]),
            source_url=url,
            version=raw.get("dateLastActivity") or "",
            data={
                "due": _iso(raw.get("due")),
                "completed": bool(raw.get("dueComplete")),
                "completed_at": None,  # Trello does not say when a due date was marked complete
                "project": raw.get("_board", ""),
                "priority": None,
                "labels": [name for name in labels if name],
                "url": url,
                "list": raw.get("_list", ""),
                "list_id": raw.get("idList"),
                "board_id": raw.get("idBoard"),
                "start": _iso(raw.get("start")),
                "description": raw.get("desc") or "",
                "member_ids": list(raw.get("idMembers") or []),
                "created_at": created.isoformat() if (created := created_at(raw["id"])) else None,
                "last_activity": _iso(raw.get("dateLastActivity")),
            },
        )

    # Output -------------------------------------------------------------------------------------

    def send(self, cards: list, config: dict) -> Delivery:
        settings = merged_config(self, config)
        list_id = str(settings.get("list_id") or "").strip()
        if not TRELLO_ID.match(list_id):
            raise ConfigError(
                "That is not a Trello list ID.",
                field="list_id",
                remediation="Open a card on the list in Trello, add .json to its address and copy the idList value "
                "(24 characters).",
            )
        position = "top" if settings.get("position") == "top" else "bottom"
        existing = self._call(
            "GET", f"/lists/{list_id}/cards", params={"fields": "desc", "filter": "all"}, field="list_id"
        )
        delivered = {m.group(1): card["id"] for card in existing for m in KEY_LINE.finditer(card.get("desc") or "")}
        skipped = []

        def create(card) -> str:
            if card.key and card.key in delivered:
                skipped.append(card.key)
                return delivered[card.key]
            key_line = f"\n\nDelivery key: {card.key}" if card.key else ""
            desc = "\n\n".join(x for x in (card.markdown, card.url) if x)
            if len(desc) + len(key_line) > TEXT_MAX:
                # Cut the text, never the key line: without it a retry would create the card again.
                link = f"\n\n{card.url}" if card.url and len(card.url) <= 2048 else ""
                room = TEXT_MAX - len(key_line) - len(CUT_NOTE) - len(link)
                desc = desc[:room].rstrip() + CUT_NOTE + link
            desc = f"{desc}{key_line}".lstrip()
            body = {"idList": list_id, "name": truncate(card.title or "Untitled", TEXT_MAX), "desc": desc}
            body["pos"] = position
            if isinstance(card.due, datetime.datetime):
                due = card.due if card.due.tzinfo else card.due.replace(tzinfo=self.ctx.zone())  # the person's hour
                body["due"] = due.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")
            elif isinstance(card.due, datetime.date):
                body["due"] = f"{card.due.isoformat()}T12:00:00Z"  # a date: noon UTC stays that day everywhere
            created = self._call("POST", "/cards", json=body, field="list_id")
            return str(created.get("id", ""))

        delivery = deliver_each(cards, create, unit="card")
        made = delivery.delivered - len(skipped)
        delivery.detail = f"{made} card{'s' if made != 1 else ''} created in Trello"
        if skipped:
            delivery.detail += f"; {len(skipped)} already there (same delivery key), not duplicated"
        delivery.detail += "."
        return delivery

    # Errors -------------------------------------------------------------------------------------

    def _error(self, response, field: str | None):
        status = response.status_code
        text = truncate(" ".join((response.text or "").split()), 200)
        said = f" ({text})" if text else ""
        if status == 401 and "permission" not in text.lower():
            return AuthError(
                f"Trello refused the API key or token{said}.",
                field="token",
                remediation="Generate a new token for your account from your Power-Up's API key page in Trello, "
                "and paste the key and token here again.",
            )
        if status in (401, 403):
            return AuthError(
                f"Trello denied access{said}.",
                remediation="Check that your Trello account can see this board (you may need to be added to it), "
                "and that the token was generated with read and write access.",
            )
        if status in (400, 404):
            target = "list" if field == "list_id" else "board"
            return ConfigError(
                f"Trello found no such {target}{said}.",
                field=field or "boards",
                remediation=f"Check the {target} ID (or short link from its web address) and that you can open it "
                "in Trello.",
            )
        if status == 429:
            return RateLimited(
                "Trello's limit of 100 requests per 10 seconds for this token was reached.",
                retry_after=retry_after_seconds(response) or WINDOW_SECONDS,
            )
        if status >= 500:
            return TransientError(f"Trello had a temporary problem (HTTP {status}).")
        return ConfigError(f"Trello did not accept the request (HTTP {status}){said}.", field=field)
