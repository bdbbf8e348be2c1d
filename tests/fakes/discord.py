"""Contract fake of Discord channel webhooks.

Follows
- https://discord.com/developers/docs/resources/webhook#execute-webhook: POST
  /api/webhooks/{id}/{token}[?wait=true]; with wait=true the created message object, else 204.
  Unknown webhook: 404 {"message": "Unknown Webhook", "code": 10015}; wrong token: 401
  {"message": "Invalid Webhook Token", "code": 50027}; validation: 400 {"message": "Invalid Form
  Body", "code": 50035, "errors": {...nested "_errors"...}}.
- https://discord.com/developers/docs/resources/webhook#get-webhook-with-token: GET the same URL
  answers the webhook object (name, channel_id, guild_id) without posting.
- https://discord.com/developers/docs/resources/message#embed-object-embed-limits: content <= 2000,
  <= 10 embeds, title <= 256, description <= 4096, field value <= 1024, 6000 characters in all.
- https://discord.com/developers/docs/topics/rate-limits: a bucket per webhook (5 per 2 s here, as
  measured by users and written in the blueprint); over it, 429 with Retry-After and
  X-RateLimit-* headers and the body {"message": "You are being rate limited.", "retry_after":
  <seconds, float>, "global": false}.
"""

from __future__ import annotations

import itertools
import math
import re
import time

from werkzeug import Response

from tests.fakes.contract import ContractFake

WEBHOOK_ID, WEBHOOK_TOKEN = "112233445566778899", "tok-en_123"


class DiscordFake(ContractFake):
    ROUTES = [
        ("POST", r"/api(?:/v\d+)?/webhooks/(?P<hook_id>\d+)/(?P<token>[\w-]+)", "execute"),
        ("GET", r"/api(?:/v\d+)?/webhooks/(?P<hook_id>\d+)/(?P<token>[\w-]+)", "get_webhook"),
    ]
    BUCKET_LIMIT, BUCKET_SECONDS = 5, 2.0

    def __init__(self):
        super().__init__()
        self.webhooks = {WEBHOOK_ID: WEBHOOK_TOKEN}
        self.messages: list[dict] = []
        self.rate_limited: list[float] = []  # when the fake answered 429 on its own
        self.send_retry_after_header = True
        self._hits: list[float] = []
        self._ids = itertools.count(1_200_000_000_000_000_000)

    def hook_url(self, hook_id: str = WEBHOOK_ID, token: str = WEBHOOK_TOKEN) -> str:
        return f"{self.url}/api/webhooks/{hook_id}/{token}"

    def _auth(self, hook_id, token):
        if hook_id not in self.webhooks:
            return self.json({"message": "Unknown Webhook", "code": 10015}, status=404)
        if self.webhooks[hook_id] != token:
            return self.json({"message": "Invalid Webhook Token", "code": 50027}, status=401)
        return None

    def get_webhook(self, request, seen, hook_id, token):
        if refused := self._auth(hook_id, token):
            return refused
        return self.json(
            {
                "type": 1,
                "id": hook_id,
                "name": "Hub digest",
                "channel_id": "998877",
                "guild_id": "556677",
                "application_id": None,
                "token": token,
            }
        )

    def execute(self, request, seen, hook_id, token):
        if refused := self._auth(hook_id, token):
            return refused
        if limited := self._bucket():
            return limited
        payload = seen.json or {}
        if errors := _validate(payload):
            return self.json({"message": "Invalid Form Body", "code": 50035, "errors": errors}, status=400)
        message = {"id": str(next(self._ids)), "channel_id": "998877", "webhook_id": hook_id, **payload}
        self.messages.append(message)
        if request.args.get("wait") == "true":
            return self.json(message)
        return Response(status=204)

    def _bucket(self):
        now = time.monotonic()
        with self._lock:
            self._hits = [t for t in self._hits if t > now - self.BUCKET_SECONDS]
            if len(self._hits) < self.BUCKET_LIMIT:
                self._hits.append(now)
                return None
            retry_after = round(self._hits[0] + self.BUCKET_SECONDS - now, 3)
            self.rate_limited.append(now)
        headers = {
            "X-RateLimit-Limit": str(self.BUCKET_LIMIT),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset-After": str(retry_after),
            "X-RateLimit-Scope": "shared",
        }
        if self.send_retry_after_header:
            headers["Retry-After"] = str(math.ceil(retry_after))
        body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": False}
        return self.json(body, status=429, headers=headers)

    def exhaust_bucket(self) -> float:
        """Fill the webhook's bucket as another poster would, so the next posts get a 429 until
        BUCKET_SECONDS from now (returned, on the log's clock)."""
        now = time.monotonic()
        with self._lock:
            self._hits = [now] * self.BUCKET_LIMIT
        return now + self.BUCKET_SECONDS


def _too_long(limit: int) -> dict:
    return {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": f"Must be {limit} or fewer in length."}]}


def _validate(payload: dict) -> dict:
    errors: dict = {}
    if not payload.get("content") and not payload.get("embeds"):
        return {"content": {"_errors": [{"code": "BASE_TYPE_REQUIRED", "message": "Cannot send an empty message"}]}}
    if len(payload.get("content") or "") > 2000:
        errors["content"] = _too_long(2000)
    username = payload.get("username")
    if username is not None and re.search("clyde|discord", username, re.I):
        # https://discord.com/developers/docs/resources/webhook#create-webhook: names cannot contain
        # "clyde" or "discord"; executing with such a username override is refused the same way.
        word = re.search("clyde|discord", username, re.I).group(0).lower()
        errors["username"] = {
            "_errors": [{"code": "USERNAME_INVALID_CONTAINS", "message": f'Username cannot contain "{word}"'}]
        }
    embeds = payload.get("embeds") or []
    if len(embeds) > 10:
        errors["embeds"] = _too_long(10)
    total = 0
    for index, embed in enumerate(embeds):
        for name, limit in (("title", 256), ("description", 4096)):
            if len(embed.get(name, "")) > limit:
                errors.setdefault("embeds", {}).setdefault(str(index), {})[name] = _too_long(limit)
        total += len(embed.get("title", "")) + len(embed.get("description", ""))
        for field in embed.get("fields", []):
            total += len(field.get("name", "")) + len(field.get("value", ""))
    if total > 6000:
        errors.setdefault("embeds", {})["_errors"] = [
            {"code": "MAX_EMBED_SIZE_EXCEEDED", "message": "Embed size exceeds maximum size of 6000"}
        ]
    return errors
