"""Generic webhook output: workflow results as a JSON POST to any address, optionally signed.

What the receiver gets
    POST <url>
    Content-Type: application/json; charset=utf-8
    User-Agent: MetaCortex/1.0 (+https://github.com/metacortex/hub)
    X-MetaCortex-Delivery: <key>      the same value in Idempotency-Key; stable for the same card
                                      (or the same set of cards, for a digest), so a receiver can
                                      drop a delivery it has already processed
    X-MetaCortex-Timestamp: <t>       Unix time in seconds when the request was signed
    X-MetaCortex-Signature: sha256=<hex>   only when a signing secret is set
    plus the extra headers of the integration ("Name: value" per line; stored encrypted with the
    other credentials, since receivers often want an Authorization header).

    Payload "cards" (one request per card):  {"type": "card", "sent_at": ISO 8601, "card": CARD}
    Payload "digest" (one request per run):  {"type": "digest", "sent_at": ..., "count": N,
                                              "cards": [CARD, ...]}
    CARD = {"title", "markdown", "html", "url", "tags", "due", "data", "key"}

Signature scheme
    <hex> is the lowercase hex HMAC-SHA256, keyed with the signing secret (UTF-8), of
        <t> + "." + <the exact body bytes>
    Signing the timestamp with the body stops a captured request from being replayed later. A
    receiver recomputes it over the raw body it read (before any JSON parsing), compares with
    hmac.compare_digest, and rejects timestamps older than its tolerance. Retries (after a 429's
    Retry-After or a 5xx) resend the same bytes with the same timestamp, so allow about 15 minutes,
    and use X-MetaCortex-Delivery to drop the duplicates a retry can cause:

        expected = "sha256=" + hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
        ok = hmac.compare_digest(expected, request.headers["X-MetaCortex-Signature"])

Retries: because every request carries an idempotency key, POSTs are retried on 5xx and dropped
connections too (connectors.webapi.retrying_client), not only on 429.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import re
import time

from connectors import net
from connectors.base import Connector, Delivery, OutgoingCard
from connectors.errors import AuthError, ConfigError, RateLimited, TransientError
from connectors.http import retry_after_seconds
from connectors.registry import registry
from connectors.webapi import ANY_STATUS, deliver_each, dumps, merged_config, retrying_client

SIGNATURE_HEADER = "X-MetaCortex-Signature"
TIMESTAMP_HEADER = "X-MetaCortex-Timestamp"
DELIVERY_HEADER = "X-MetaCortex-Delivery"
TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
# Headers that describe the connection or the body framing, or that are ours to set.
REFUSED_HEADERS = {
    "host", "content-length", "transfer-encoding", "connection", "keep-alive", "te", "trailer", "upgrade",
    "proxy-authorization", "proxy-authenticate", "proxy-connection", "expect", "content-encoding",
    "idempotency-key",
}  # fmt: skip


def card_payload(card: OutgoingCard, zone: datetime.tzinfo = datetime.UTC) -> dict:
    """A card as JSON; a due time without a zone is the person's own hour (`zone`), sent with its
    offset so the receiver never has to guess."""
    due = card.due
    if isinstance(due, datetime.datetime) and due.tzinfo is None:
        due = due.replace(tzinfo=zone)
    return {
        "title": card.title,
        "markdown": card.markdown,
        "html": card.html,
        "url": card.url,
        "tags": list(card.tags),
        "due": due.isoformat() if due else None,
        "data": card.data,
        "key": card.key,
    }


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def parse_headers(text: str) -> dict[str, str]:
    headers = {}
    for number, raw in enumerate((text or "").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition(":")
        name, value = name.strip(), value.strip()
        if not sep or not TOKEN.match(name):
            # Never quote the line: the headers are a secret, and a line missing its colon is often
            # "Authorization Bearer <token>".
            raise ConfigError(
                f'Extra headers, line {number} is not a "Name: value" header.',
                field="headers",
                remediation='Write one header per line, with a colon after its name, e.g. "X-Source: metacortex".',
            )
        lowered = name.lower()
        if lowered in REFUSED_HEADERS or lowered.startswith("x-metacortex-"):
            raise ConfigError(
                f"Extra headers, line {number}: the {name} header is set by the hub and cannot be overridden.",
                field="headers",
                remediation=f"Remove the {name} line.",
            )
        if any(ord(c) < 32 and c != "\t" for c in value):
            raise ConfigError(f"Extra headers, line {number}: the value has control characters.", field="headers")
        headers[name] = value
    return headers


@registry.register("webhook")
class WebhookConnector(Connector):
    _client = None

    @property
    def url(self) -> str:
        return self._address()[0]

    def _address(self):
        """The address and its parts as the HTTP client reads them (connectors.net.read_url)."""
        url = self.secrets.get("url") or self.config.get("url") or ""
        try:
            parts = net.read_url(url)
        except ValueError as problem:
            raise ConfigError(
                f"The webhook address {problem}",
                field="url",
                remediation="Enter the receiver's address, e.g. https://example.com/hooks/metacortex.",
            ) from None
        return url, parts

    @property
    def extra_headers(self) -> dict[str, str]:
        # Encrypted with the credentials; integrations saved before that kept them in config
        # (migration 0006 moves them, the next save too), so that is read when no secret is set.
        return parse_headers(self.secrets.get("headers") or self.config.get("headers", ""))

    def test_connection(self) -> str:
        _url, parts = self._address()
        self.extra_headers  # noqa: B018 - validates them: a bad line is refused before saving
        net.check_url_host(parts.host, net.default_port(parts))
        signed = "signed" if self.secrets.get("signing_secret") else "unsigned"
        return f"{parts.host} ({signed}; address checked, no request sent)"

    def send(self, cards: list, config: dict) -> Delivery:
        settings = merged_config(self, config)
        url, headers = self.url, self.extra_headers
        if not cards:
            return Delivery(detail="Nothing to send.")
        zone = self.ctx.zone()
        if settings.get("payload", "cards") == "digest":
            key = hashlib.sha256("\n".join(c.key or c.title for c in cards).encode()).hexdigest()[:32]
            body = {"type": "digest", "count": len(cards), "cards": [card_payload(c, zone) for c in cards]}
            delivery = deliver_each([(key, body)], lambda item: self._post(url, headers, *item), unit="request")
            delivery.delivered = len(cards)
        else:
            requests_ = [(c.key or _title_key(c), {"type": "card", "card": card_payload(c, zone)}) for c in cards]
            delivery = deliver_each(requests_, lambda item: self._post(url, headers, *item), unit="card")
        delivery.detail = f"Delivered to {net.read_url(url).host}."
        return delivery

    def _post(self, url: str, extra_headers: dict, key: str, payload: dict) -> str:
        payload = {**payload, "sent_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}
        body = dumps(payload)
        timestamp = str(int(time.time()))
        headers = {
            **extra_headers,
            "Content-Type": "application/json; charset=utf-8",
            DELIVERY_HEADER: key,
            "Idempotency-Key": key,
            TIMESTAMP_HEADER: timestamp,
        }
        secret = self.secrets.get("signing_secret")
        if secret:
            headers[SIGNATURE_HEADER] = sign(secret, timestamp, body)
        if self._client is None:
            self._client = retrying_client(self.ctx)
        response = self._client.post(url, data=body, headers=headers, ok=ANY_STATUS, allow_redirects=False)
        self._check(response)
        return key

    def _check(self, response):
        status = response.status_code
        if 200 <= status < 300:
            return
        detail = self.quote(response.text)  # receivers echo requests back: the path may hold the token
        said = f": {detail}" if detail else ""
        if 300 <= status < 400:
            location = response.headers.get("Location", "another address")
            raise ConfigError(
                f"The receiver redirected the request (HTTP {status}) to {self.quote(location, 120)}.",
                field="url",
                remediation="Enter the final address: a redirected POST would lose its body.",
            )
        if status == 410:
            raise AuthError(
                "The receiver says this hook is gone (HTTP 410).",
                remediation="Create a new hook at the receiver and enter its address; deliveries pause until then.",
            )
        if status in (401, 403):
            raise AuthError(
                f"The receiver refused the request (HTTP {status}){said}.",
                remediation="Check that the signing secret matches the receiver's, and any token in the address.",
            )
        if status == 429:
            raise RateLimited(
                "The receiver kept asking us to slow down (HTTP 429).", retry_after=retry_after_seconds(response)
            )
        if status == 413:
            raise ConfigError(
                "The receiver refused the request as too large (HTTP 413).",
                field="payload",
                remediation="Send one request per item instead of a digest.",
            )
        if status >= 500:
            raise TransientError(f"The receiver had an error (HTTP {status}).")
        if status == 404:
            raise ConfigError("Nothing was found at the webhook address (HTTP 404).", field="url")
        raise ConfigError(f"The receiver refused the request (HTTP {status}){said}.")

    def close(self):
        if self._client is not None:
            self._client.close()
            self._client = None


def _title_key(card: OutgoingCard) -> str:
    return hashlib.sha256(f"{card.title}\n{card.url}\n{card.markdown}".encode()).hexdigest()[:32]
