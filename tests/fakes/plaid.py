"""Contract fake of Plaid's API (the read side the hub uses, plus Link and webhook keys).

Every endpoint is a JSON POST whose body carries client_id and secret (and access_token where an
Item is concerned); errors are HTTP 400/429/500 with {"error_type", "error_code", "error_message",
"display_message", "request_id"} (https://plaid.com/docs/errors/).

- POST /transactions/sync {access_token, cursor, count, options.days_requested} ->
  {added, modified, removed: [{transaction_id, account_id}], next_cursor, has_more, accounts,
  request_id} (https://plaid.com/docs/api/products/transactions/#transactionssync). Pages hold at
  most `count` updates; has_more says to ask again with next_cursor. A pending charge that posts
  is the pending transaction in `removed` and the posted one in `added` with
  pending_transaction_id (https://plaid.com/docs/transactions/transactions-data/). Data changing
  between two pages of one loop answers 400 TRANSACTIONS_ERROR /
  TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION (https://plaid.com/docs/errors/transactions/).
  Amounts are JSON numbers, positive when money leaves the account.
- POST /accounts/balance/get {access_token} -> {accounts: [{account_id, balances: {available,
  current, limit, iso_currency_code, unofficial_currency_code}, mask, name, official_name, type,
  subtype}], item, request_id} (https://plaid.com/docs/api/products/balance/).
- POST /item/get {access_token} -> {item: {item_id, institution_id, webhook, ...}, status, request_id}.
- POST /link/token/create {client_name, language, country_codes, user.client_user_id, products,
  webhook, redirect_uri, hosted_link: {completion_redirect_uri, ...}, access_token (update mode)}
  -> {link_token, expiration, hosted_link_url, request_id} (https://plaid.com/docs/api/link/#linktokencreate,
  https://plaid.com/docs/link/hosted-link/).
- POST /link/token/get {link_token} -> {link_token, link_sessions: [{link_session_id, results:
  {item_add_results: [{public_token, accounts, institution}]}}], request_id}
  (https://plaid.com/docs/api/link/#linktokenget).
- POST /item/public_token/exchange {public_token} -> {access_token, item_id, request_id}; public
  tokens are single use (https://plaid.com/docs/api/items/#itempublic_tokenexchange).
- GET hosted_link_url: the hosted page; here the person finishes at once and the browser is sent to
  hosted_link.completion_redirect_uri.
- POST /webhook_verification_key/get {key_id} -> {key: JWK (alg ES256, crv P-256, kid, kty EC,
  use sig, x, y, created_at, expired_at), request_id}; webhooks carry a Plaid-Verification JWT
  (ES256, header kid) whose claims are iat and request_body_sha256
  (https://plaid.com/docs/api/webhooks/webhook-verification/).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from werkzeug import Response

from tests.fakes.contract import ContractFake

CLIENT_ID, SECRET = "plaid-fake-client-id", "plaid-fake-secret"
ACCESS_TOKEN = "access-sandbox-fake-0001"
ITEM_ID = "item-fake-0001"
CHECKING, CARD = "acc-checking", "acc-card"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _number(text: str | None):
    """A JSON number as Plaid writes it: 2000, 110.5."""
    if text is None:
        return None
    value = float(text)
    return int(value) if value.is_integer() else value


class PlaidFake(ContractFake):
    ROUTES = [
        ("POST", r"/transactions/sync", "transactions_sync"),
        ("POST", r"/accounts/balance/get", "balance_get"),
        ("POST", r"/item/get", "item_get"),
        ("POST", r"/link/token/create", "link_token_create"),
        ("POST", r"/link/token/get", "link_token_get"),
        ("POST", r"/item/public_token/exchange", "public_token_exchange"),
        ("POST", r"/webhook_verification_key/get", "verification_key_get"),
        ("GET", r"/hosted/(?P<token>[^/]+)", "hosted_page"),
    ]

    def __init__(self):
        super().__init__()
        self.events: list[tuple[str, dict]] = []  # (added|modified|removed, transaction) in order
        self.items = {ACCESS_TOKEN: ITEM_ID}  # access token -> item id
        self.login_required: set[str] = set()  # item ids whose bank wants a new sign-in
        self.mutate_on_request: int | None = None  # the nth /transactions/sync call sees data change
        self.sync_calls = 0
        self.next_item_id: str | None = None  # the Item the next hosted Link session creates
        self.link_tokens: dict[str, dict] = {}  # link token -> its create request and sessions
        self.public_tokens: dict[str, str] = {}  # unused public token -> item id
        self.signing_key = ec.generate_private_key(ec.SECP256R1())
        self.key_id = f"key-{secrets.token_hex(8)}"  # a new key per fake: cached keys never leak between tests
        self.accounts = {
            CHECKING: self._account(CHECKING, "Plaid Checking", "depository", "checking", "110.5", "100"),
            CARD: self._account(CARD, "Plaid Credit Card", "credit", "credit card", "410", None, limit="2000"),
        }

    # Seeding ------------------------------------------------------------------------------------

    @staticmethod
    def _account(account_id, name, kind, subtype, current, available, limit=None):
        current, available, limit = (_number(v) for v in (current, available, limit))
        return {
            "account_id": account_id, "name": name, "official_name": f"{name} Official", "mask": "0000",
            "type": kind, "subtype": subtype, "balances": {
                "available": available, "current": current, "limit": limit, "iso_currency_code": "USD",
                "unofficial_currency_code": None, "last_updated_datetime": None,
            },
        }  # fmt: skip

    def transaction(self, transaction_id: str, amount: str, date: str, *, pending=False, **extra) -> dict:
        return {
            "transaction_id": transaction_id, "account_id": CHECKING, "amount": _number(amount), "date": date,
            "authorized_date": date, "iso_currency_code": "USD", "unofficial_currency_code": None,
            "name": "UNITED AIRLINES 0123", "merchant_name": "United Airlines", "pending": pending,
            "pending_transaction_id": None, "payment_channel": "in store", "category": ["Travel", "Airlines"],
            "personal_finance_category": {"primary": "TRAVEL", "detailed": "TRAVEL_FLIGHTS"},
            "merchant_entity_id": None, "website": None, "original_description": None, **extra,
        }  # fmt: skip

    def add(self, transaction_id: str, amount: str, date: str, **fields):
        self.events.append(("added", self.transaction(transaction_id, amount, date, **fields)))

    def modify(self, transaction_id: str, amount: str, date: str, **fields):
        self.events.append(("modified", self.transaction(transaction_id, amount, date, **fields)))

    def remove(self, transaction_id: str):
        self.events.append(("removed", {"transaction_id": transaction_id, "account_id": CHECKING}))

    def post_pending(self, pending_id: str, posted_id: str, amount: str, date: str, **fields):
        """The bank settles a pending charge: Plaid removes the pending one and adds the posted one."""
        self.remove(pending_id)
        self.add(posted_id, amount, date, pending=False, pending_transaction_id=pending_id, **fields)

    # Webhooks -----------------------------------------------------------------------------------

    def public_jwk(self) -> dict:
        numbers = self.signing_key.public_key().public_numbers()
        return {
            "alg": "ES256", "crv": "P-256", "kid": self.key_id, "kty": "EC", "use": "sig",
            "x": b64url(numbers.x.to_bytes(32, "big")), "y": b64url(numbers.y.to_bytes(32, "big")),
            "created_at": 1560466150, "expired_at": None,
        }  # fmt: skip

    def sign_webhook(self, body: bytes, *, iat: int | None = None, kid: str = "", key=None) -> str:
        """The Plaid-Verification header Plaid would send with this body."""
        header = b64url(json.dumps({"alg": "ES256", "kid": kid or self.key_id, "typ": "JWT"}).encode())
        claims = {
            "iat": int(time.time()) if iat is None else iat,
            "request_body_sha256": hashlib.sha256(body).hexdigest(),
        }
        signing_input = f"{header}.{b64url(json.dumps(claims).encode())}".encode()
        r, s = decode_dss_signature((key or self.signing_key).sign(signing_input, ec.ECDSA(hashes.SHA256())))
        return f"{signing_input.decode()}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    # Protocol -----------------------------------------------------------------------------------

    def _error(self, status: int, error_type: str, code: str, message: str, display=None):
        body = {
            "error_type": error_type, "error_code": code, "error_message": message,
            "display_message": display, "request_id": secrets.token_hex(6),
        }  # fmt: skip
        return self.json(body, status=status)

    def _checks(self, seen, *, item: bool = True):
        body = seen.json or {}
        if (body.get("client_id"), body.get("secret")) != (CLIENT_ID, SECRET):
            return None, self._error(400, "INVALID_INPUT", "INVALID_API_KEYS", "invalid client_id or secret provided")
        if not item:
            return body, None
        item_id = self.items.get(body.get("access_token"))
        if item_id is None:
            return None, self._error(
                400, "INVALID_INPUT", "INVALID_ACCESS_TOKEN", "provided access token is in an invalid format"
            )
        if item_id in self.login_required:
            return None, self._error(
                400, "ITEM_ERROR", "ITEM_LOGIN_REQUIRED",
                "the login details of this item have changed (credentials, MFA, or required user action) "
                "and a user login is required to update this information",
                "The login details of this item have changed. Please log in again.",
            )  # fmt: skip
        return body, None

    def transactions_sync(self, request, seen):
        body, error = self._checks(seen)
        if error:
            return error
        with self._lock:
            self.sync_calls += 1
            mutate = self.sync_calls == self.mutate_on_request
        cursor = body.get("cursor") or ""
        if mutate and cursor:
            # The data changed under a loop already under way: Plaid refuses the page.
            self.modify("t-mutated", "1.00", "2026-11-30")
            return self._error(
                400, "TRANSACTIONS_ERROR", "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION",
                "Underlying transaction data changed since last page was fetched. Please restart pagination "
                "from last update.",
            )  # fmt: skip
        start = int(cursor[1:]) if cursor.startswith("c") else 0
        count = max(1, min(500, int(body.get("count") or 100)))
        page = self.events[start : start + count]
        result = {"added": [], "modified": [], "removed": []}
        for op, tx in page:
            result[op].append(tx)
        end = start + len(page)
        return self.json({
            **result, "next_cursor": f"c{end}", "has_more": end < len(self.events),
            "accounts": list(self.accounts.values()), "transactions_update_status": "HISTORICAL_UPDATE_COMPLETE",
            "request_id": secrets.token_hex(6),
        })  # fmt: skip

    def balance_get(self, request, seen):
        body, error = self._checks(seen)
        if error:
            return error
        return self.json({
            "accounts": list(self.accounts.values()), "item": {"item_id": self.items[body["access_token"]]},
            "request_id": secrets.token_hex(6),
        })  # fmt: skip

    def item_get(self, request, seen):
        body, error = self._checks(seen)
        if error:
            return error
        return self.json({
            "item": {"item_id": self.items[body["access_token"]], "institution_id": "ins_109508",
                     "webhook": "", "available_products": [], "billed_products": ["transactions"]},
            "status": {}, "request_id": secrets.token_hex(6),
        })  # fmt: skip

    def link_token_create(self, request, seen):
        body, error = self._checks(seen, item=False)
        if error:
            return error
        if not (body.get("user") or {}).get("client_user_id") or not body.get("client_name"):
            return self._error(400, "INVALID_REQUEST", "MISSING_FIELDS", "the following required fields are missing")
        if body.get("access_token") and body["access_token"] not in self.items:
            return self._error(400, "INVALID_INPUT", "INVALID_ACCESS_TOKEN", "invalid access token")
        if not body.get("access_token") and not body.get("products"):
            return self._error(400, "INVALID_REQUEST", "MISSING_FIELDS", "products is required")
        token = f"link-sandbox-{secrets.token_hex(8)}"
        self.link_tokens[token] = {"request": body, "sessions": []}
        hosted = f"{self.url}/hosted/{token}" if "hosted_link" in body else None
        return self.json({
            "link_token": token, "expiration": "2026-12-07T10:00:00Z", "hosted_link_url": hosted,
            "request_id": secrets.token_hex(6),
        })  # fmt: skip

    def complete_link(self, link_token: str, *, item_id: str | None = None) -> str:
        """The person finished Hosted Link: the session holds a public token (or, in update mode, none:
        the existing Item is repaired in place)."""
        entry = self.link_tokens[link_token]
        access = entry["request"].get("access_token")
        results: dict = {"item_add_results": []}
        if access:
            self.login_required.discard(self.items[access])
        else:
            public = f"public-sandbox-{secrets.token_hex(8)}"
            self.public_tokens[public] = item_id or f"item-{secrets.token_hex(4)}"
            results["item_add_results"].append({
                "public_token": public, "accounts": [{"id": CHECKING, "name": "Plaid Checking"}],
                "institution": {"institution_id": "ins_109508", "name": "First Platypus Bank"},
            })  # fmt: skip
        entry["sessions"].append({
            "link_session_id": secrets.token_hex(8), "started_at": "2026-12-07T05:00:00Z",
            "finished_at": "2026-12-07T05:01:00Z", "results": results,
        })  # fmt: skip
        return link_token

    def hosted_page(self, request, seen, token):
        """Hosted Link as a browser meets it: the person picks a bank and signs in (immediately here),
        then Plaid sends the browser to completion_redirect_uri."""
        entry = self.link_tokens.get(token)
        if entry is None:
            return Response("This link has expired.", status=404)
        self.complete_link(token, item_id=self.next_item_id)
        return Response(status=302, headers={"Location": entry["request"]["hosted_link"]["completion_redirect_uri"]})

    def link_token_get(self, request, seen):
        body, error = self._checks(seen, item=False)
        if error:
            return error
        entry = self.link_tokens.get(body.get("link_token"))
        if entry is None:
            return self._error(400, "INVALID_INPUT", "INVALID_LINK_TOKEN", "invalid link_token provided")
        return self.json({
            "link_token": body["link_token"], "link_sessions": entry["sessions"],
            "metadata": {"redirect_uri": entry["request"].get("redirect_uri")}, "request_id": secrets.token_hex(6),
        })  # fmt: skip

    def public_token_exchange(self, request, seen):
        body, error = self._checks(seen, item=False)
        if error:
            return error
        item_id = self.public_tokens.pop(body.get("public_token"), None)
        if item_id is None:
            return self._error(400, "INVALID_INPUT", "INVALID_PUBLIC_TOKEN", "provided public token is invalid")
        access = f"access-sandbox-{secrets.token_hex(8)}"
        self.items[access] = item_id
        return self.json({"access_token": access, "item_id": item_id, "request_id": secrets.token_hex(6)})

    def verification_key_get(self, request, seen):
        body, error = self._checks(seen, item=False)
        if error:
            return error
        if body.get("key_id") != self.key_id:
            return self._error(400, "INVALID_INPUT", "INVALID_WEBHOOK_VERIFICATION_KEY_ID", "invalid key_id provided")
        return self.json({"key": self.public_jwk(), "request_id": secrets.token_hex(6)})
