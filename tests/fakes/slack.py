"""Contract fake of Slack: incoming webhooks and the Web API methods the hub calls.

Follows
- https://api.slack.com/messaging/webhooks and
  https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks:
  POST /services/T.../B.../secret with a JSON body; 200 "ok"; plain-text errors:
  400 invalid_payload / no_text, 403 action_prohibited, 404 channel_not_found / no_service,
  410 channel_is_archived, 500 rollup_error.
- https://api.slack.com/methods/chat.postMessage and https://api.slack.com/methods/auth.test:
  Bearer token; HTTP 200 with {"ok": false, "error": "not_authed" | "invalid_auth" |
  "token_revoked" | "channel_not_found" | "not_in_channel" | "is_archived" | ...};
  HTTP 429 with Retry-After and {"ok": false, "error": "ratelimited"} when rate limited.
- https://api.slack.com/reference/block-kit/blocks: header text <= 150 characters, section text
  <= 3000, at most 50 blocks (invalid_blocks otherwise).
- https://api.slack.com/reference/surfaces/formatting ("Mentioning groups", "Automatic parsing")
  and https://docs.slack.dev/reference/block-kit/composition-objects/text-object (verbatim false
  by default: "certain mentions will be automatically parsed"): `<!channel>`, `<!here>`,
  `<!everyone>`, `<!subteam^ID>` and `<@U...>` in the top-level `text` (what notifications show)
  or in mrkdwn text ping people, and so do plain @channel / @here / @everyone. pings() lists them.
- https://api.slack.com/authentication/oauth-v2 and https://api.slack.com/methods/oauth.v2.access:
  GET /oauth/v2/authorize (here the user's "Allow" is immediate: a redirect back with code and
  state, or error=access_denied when declining); POST /api/oauth.v2.access with the client's
  credentials (HTTP basic or form) answers HTTP 200 {"ok": true, "access_token": "xoxb-...",
  "token_type": "bot", "scope": "chat:write", "bot_user_id", "app_id", "team": {"name", "id"},
  "authed_user": {...}} or HTTP 200 {"ok": false, "error": "invalid_code" | "bad_redirect_uri" |
  "invalid_client_id" | "bad_client_secret"}. PKCE (S256) is checked when a challenge was sent.
- https://api.slack.com/methods/auth.revoke: the token as the "token" argument or Bearer header;
  {"ok": true, "revoked": true}.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import secrets
from urllib.parse import urlencode

from werkzeug import Response

from tests.fakes.contract import ContractFake

BOT_TOKEN = "xoxb-1111-2222-fake"
CLIENT_ID, CLIENT_SECRET = "1111.2222", "slack-client-secret"


class SlackFake(ContractFake):
    ROUTES = [
        ("POST", r"/services/(?P<team>T\w+)/(?P<bot>B\w+)/(?P<secret>\w+)", "webhook"),
        ("POST", r"/api/chat\.postMessage", "post_message"),
        ("POST", r"/api/auth\.test", "auth_test"),
        ("GET", r"/oauth/v2/authorize", "authorize"),
        ("POST", r"/api/oauth\.v2\.access", "oauth_access"),
        ("POST", r"/api/auth\.revoke", "auth_revoke"),
    ]

    def __init__(self):
        super().__init__()
        self.hooks = {"T0001/B0001/hooksecret1": "daily-digest"}  # hook path -> channel
        self.revoked_hooks: set[str] = set()
        self.archived = {"old-news"}
        self.channels = {"C0001": "daily-digest", "C0002": "private-team", "C0003": "old-news"}
        self.members = {"C0001", "C0003"}  # channels the bot was invited to
        self.tokens = {BOT_TOKEN}
        self.revoked_tokens: set[str] = set()
        self.messages: list[dict] = []  # what landed in a channel, in order
        self.decline = False  # the user clicks "Cancel" on Slack's consent page
        self._codes: dict[str, dict] = {}
        self._ts = itertools.count(1)

    def hook_url(self, path: str = "T0001/B0001/hooksecret1") -> str:
        return f"{self.url}/services/{path}"

    # Incoming webhooks ---------------------------------------------------------------------

    def webhook(self, request, seen, team, bot, secret):
        key = f"{team}/{bot}/{secret}"
        if key not in self.hooks or key in self.revoked_hooks:
            return self._text(404, "no_service")
        channel = self.hooks[key]
        payload = self._payload(request)
        if payload is None:
            return self._text(400, "invalid_payload")
        if not payload.get("text") and not payload.get("blocks"):
            return self._text(400, "no_text")
        if problem := _block_problem(payload.get("blocks") or []):
            return self._text(400, f"invalid_blocks: {problem}")
        if channel in self.archived:
            return self._text(410, "channel_is_archived")
        self.messages.append({"channel": channel, **payload})
        return self._text(200, "ok")

    # Web API ---------------------------------------------------------------------------------

    def post_message(self, request, seen):
        if error := self._auth_error(request):
            return self.json({"ok": False, "error": error})
        payload = self._payload(request) or {}
        channel_id = self._channel_id(payload.get("channel", ""))
        if channel_id is None:
            return self.json({"ok": False, "error": "channel_not_found"})
        if channel_id not in self.members:
            return self.json({"ok": False, "error": "not_in_channel"})
        if self.channels[channel_id] in self.archived:
            return self.json({"ok": False, "error": "is_archived"})
        if not payload.get("text") and not payload.get("blocks"):
            return self.json({"ok": False, "error": "no_text"})
        if problem := _block_problem(payload.get("blocks") or []):
            return self.json({"ok": False, "error": "invalid_blocks", "response_metadata": {"messages": [problem]}})
        ts = f"1700000000.{next(self._ts):06d}"
        self.messages.append({"channel": self.channels[channel_id], "ts": ts, **payload})
        return self.json({"ok": True, "channel": channel_id, "ts": ts, "message": {"type": "message", "ts": ts}})

    def auth_test(self, request, seen):
        if error := self._auth_error(request):
            return self.json({"ok": False, "error": error})
        return self.json(
            {
                "ok": True,
                "url": "https://acme.slack.com/",
                "team": "Acme",
                "user": "metacortex",
                "team_id": "T0001",
                "user_id": "U0001",
                "bot_id": "B0001",
            }
        )

    # OAuth v2 --------------------------------------------------------------------------------

    def authorize(self, request, seen):
        args = request.args
        redirect_uri, state = args.get("redirect_uri", ""), args.get("state", "")
        if args.get("client_id") != CLIENT_ID:
            return self._text(400, "invalid_client_id")
        if self.decline:
            return Response(
                status=302,
                headers={"Location": f"{redirect_uri}?{urlencode({'error': 'access_denied', 'state': state})}"},
            )
        code = secrets.token_urlsafe(16)
        self._codes[code] = {
            "redirect_uri": redirect_uri,
            "scope": args.get("scope", ""),
            "challenge": args.get("code_challenge"),
        }
        return Response(status=302, headers={"Location": f"{redirect_uri}?{urlencode({'code': code, 'state': state})}"})

    def oauth_access(self, request, seen):
        form = request.form
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if request.authorization is not None:
            client_id, client_secret = request.authorization.username, request.authorization.password
        if client_id != CLIENT_ID:
            return self.json({"ok": False, "error": "invalid_client_id"})
        if client_secret != CLIENT_SECRET:
            return self.json({"ok": False, "error": "bad_client_secret"})
        grant = self._codes.pop(form.get("code", ""), None)  # single use
        if grant is None:
            return self.json({"ok": False, "error": "invalid_code"})
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return self.json({"ok": False, "error": "bad_redirect_uri"})
        if grant["challenge"]:
            digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["challenge"]:
                return self.json({"ok": False, "error": "invalid_code_verifier"})
        token = f"xoxb-{secrets.token_hex(8)}"
        self.tokens.add(token)
        return self.json(
            {
                "ok": True,
                "access_token": token,
                "token_type": "bot",
                "scope": grant["scope"],
                "bot_user_id": "U0BOT0001",
                "app_id": "A0APP0001",
                "team": {"name": "Acme", "id": "T0001"},
                "enterprise": None,
                "is_enterprise_install": False,
                "authed_user": {"id": "U0001"},
            }
        )

    def auth_revoke(self, request, seen):
        token = request.form.get("token") or request.headers.get("Authorization", "")[len("Bearer ") :]
        if token not in self.tokens:
            return self.json({"ok": False, "error": "invalid_auth"})
        self.revoked_tokens.add(token)
        return self.json({"ok": True, "revoked": True})

    def rate_limit_next(self, path: str, retry_after: int = 1):
        self.fail("POST", path, 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)})

    # Helpers ---------------------------------------------------------------------------------

    def _auth_error(self, request) -> str | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return "not_authed"
        token = header[len("Bearer ") :]
        if token in self.revoked_tokens:
            return "token_revoked"
        if token not in self.tokens:
            return "invalid_auth"
        return None

    def _channel_id(self, value: str) -> str | None:
        if value in self.channels:
            return value
        by_name = {f"#{name}": cid for cid, name in self.channels.items()}
        return by_name.get(value)

    @staticmethod
    def _payload(request):
        if request.mimetype != "application/json":
            return None
        try:
            value = json.loads(request.get_data())
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    @staticmethod
    def _text(status: int, text: str) -> Response:
        return Response(text, status=status, content_type="text/html")


# Manual mentions ping wherever mrkdwn is read; plain @channel / @here / @everyone only where Slack
# parses text automatically (verbatim not true).
MANUAL_MENTION = re.compile(r"<(?:!(?:channel|here|everyone|subteam\^[^>|]+)|@[UW][A-Z0-9]+)(?:\|[^>]*)?>")
PLAIN_MENTION = re.compile(r"(?<![\w@])@(?:channel|here|everyone)\b")


def pings(message: dict) -> list[str]:
    """The mentions Slack would notify people for in a posted message: in its fallback `text` and in
    every mrkdwn text object (sections, context elements)."""

    def found_in(text: str, verbatim: bool = False) -> list[str]:
        return MANUAL_MENTION.findall(text) + ([] if verbatim else PLAIN_MENTION.findall(text))

    found = found_in(message.get("text") or "")
    for block in message.get("blocks") or []:
        for text in [block.get("text") or {}, *(block.get("elements") or [])]:
            if isinstance(text, dict) and text.get("type") == "mrkdwn":
                found += found_in(text.get("text", ""), bool(text.get("verbatim")))
    return found


def _block_problem(blocks) -> str | None:
    if len(blocks) > 50:
        return "no more than 50 items allowed [json-pointer:/blocks]"
    for index, block in enumerate(blocks):
        kind = block.get("type")
        text = (block.get("text") or {}).get("text", "")
        if kind == "header" and (block["text"].get("type") != "plain_text" or len(text) > 150):
            return f"must be plain_text of at most 150 characters [json-pointer:/blocks/{index}/text]"
        if kind == "section" and len(text) > 3000:
            return f"must be less than 3001 characters [json-pointer:/blocks/{index}/text]"
        if kind not in ("header", "section", "context", "divider"):
            return f"unsupported type [json-pointer:/blocks/{index}/type]"
    return None
