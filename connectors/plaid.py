"""Plaid: bank and card transactions and account balances, read-only.

The operator owns the Plaid keys (PLAID_CLIENT_ID, PLAID_SECRET and PLAID_ENV in the environment);
each person's linked bank is a Plaid Item whose access token is the integration's encrypted secret.
Every request is a JSON POST carrying client_id and secret in the body, as Plaid's API expects.

A sync costs two kinds of request:
- /accounts/balance/get: the accounts with real-time balances (records of kind "plaid_account"),
  and the account names the transactions are labelled with.
- /transactions/sync, from the cursor saved last time ("" the first time): pages of added,
  modified and removed transactions until has_more is false; the last next_cursor is saved. A
  pending charge that posts arrives as the pending transaction in `removed` and the posted one in
  `added` (naming it in pending_transaction_id), so the pending record is deleted and the posted
  one created. Plaid answers TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION when the data changed
  while we paged: the whole loop restarts from the cursor it began with, as the docs require. Pages
  are handed to the engine as they come with that starting cursor (upserts and deletes repeat
  harmlessly), and only the final batch carries next_cursor.

Amounts: Plaid's `amount` is positive when money leaves the account; records use the hub's
convention (negative = money out), converted through Decimal from the JSON text, never a float.

Errors ({"error_type", "error_code", "error_message", "display_message"}): ITEM_LOGIN_REQUIRED ->
AuthError asking the person to re-connect through Plaid Link (update mode); other ITEM_ERROR and
INVALID_INPUT codes about the token -> AuthError; 429 RATE_LIMIT_EXCEEDED -> RateLimited; 5xx and
PRODUCT_NOT_READY -> TransientError; missing operator keys -> ConfigError.

Docs: https://plaid.com/docs/api/products/transactions/#transactionssync,
https://plaid.com/docs/transactions/sync-migration/, https://plaid.com/docs/errors/transactions/
(TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION), https://plaid.com/docs/api/products/balance/
(/accounts/balance/get), https://plaid.com/docs/api/items/#itemget,
https://plaid.com/docs/errors/item/ (ITEM_LOGIN_REQUIRED), https://plaid.com/docs/errors/rate-limit-exceeded/.
"""

from __future__ import annotations

import datetime
import json
from decimal import Decimal, InvalidOperation

from django.conf import settings

from connectors.base import Batch, Connector, Record
from connectors.errors import AuthError, ConfigError, ItemError, RateLimited, TransientError
from connectors.http import retry_after_seconds
from connectors.paging import PageGuard
from connectors.registry import registry
from connectors.webapi import ANY_STATUS, api_base, truncate

ENVIRONMENTS = ("sandbox", "development", "production")
PAGE_SIZE = 500  # the most /transactions/sync returns in one page
MAX_RESTARTS = 5  # a loop that keeps being invalidated is left for the next sync
CENT = Decimal("0.01")
RATE_LIMIT_WAIT = 60.0  # Plaid sends no Retry-After; its limits are per minute
MUTATION = "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION"
RELINK = (
    "Open this integration and choose “Re-connect with Plaid”: your bank asks you to sign in again "
    "(a changed password, or an expired consent). Syncing resumes where it stopped."
)


def operator_keys() -> tuple[str, str, str]:
    """(client_id, secret, environment) from the operator's settings; ConfigError when unset."""
    client_id = (getattr(settings, "PLAID_CLIENT_ID", "") or "").strip()
    secret = (getattr(settings, "PLAID_SECRET", "") or "").strip()
    env = (getattr(settings, "PLAID_ENV", "") or "sandbox").strip().lower()
    if not client_id or not secret:
        raise ConfigError(
            "This hub has no Plaid keys configured.",
            remediation="Ask the hub's operator to set PLAID_CLIENT_ID and PLAID_SECRET (see the README).",
        )
    if env not in ENVIRONMENTS:
        raise ConfigError(
            f"PLAID_ENV is set to “{env}”, which Plaid does not know.",
            remediation="Ask the hub's operator to set PLAID_ENV to sandbox or production.",
        )
    return client_id, secret, env


def plaid_base() -> str:
    env = operator_keys()[2]
    return api_base("plaid", f"https://{env}.plaid.com")


def money(value) -> str:
    """Plaid's amount (positive = money out) -> the hub's decimal string (negative = money out)."""
    if value is None or isinstance(value, bool):
        raise ValueError("an amount")
    try:
        amount = -Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError("a readable amount") from exc
    cents = amount.quantize(CENT) if amount == amount.quantize(CENT) else amount
    return str(cents if cents else cents.copy_abs())  # never "-0.00"


def plain_money(value) -> str:
    """A balance as Plaid gives it (its own sign), as an exact decimal string; "" when unknown."""
    if value is None or isinstance(value, bool):
        return ""
    return str(Decimal(str(value)))


class SyncMutated(TransientError):
    """TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION: the pagination loop must start over."""


def plaid_error(response) -> Exception:
    """The hub's error for a failed Plaid answer (shared with the Link and webhook views)."""
    try:
        data = json.loads(response.text, parse_float=Decimal) if response.text else {}
    except ValueError:
        data = {}
    data = data if isinstance(data, dict) else {}
    status, code = response.status_code, str(data.get("error_code") or "")
    error_type = str(data.get("error_type") or "")
    said = data.get("display_message") or data.get("error_message") or ""
    said = f" ({said})" if said else ""
    if code == MUTATION:
        return SyncMutated("Plaid's transactions changed while the hub read them.")
    if code == "ITEM_LOGIN_REQUIRED":
        return AuthError(f"Your bank needs you to sign in again through Plaid{said}.", remediation=RELINK)
    if code in ("INVALID_ACCESS_TOKEN", "ITEM_NOT_FOUND", "ACCESS_NOT_GRANTED", "NO_ACCOUNTS"):
        return AuthError(
            f"Plaid no longer accepts this connection ({code}).",
            remediation="Connect the bank again with Plaid from the gallery, then remove this integration.",
        )
    if code in ("INVALID_API_KEYS", "INVALID_PRODUCT") or (error_type == "INVALID_REQUEST" and status == 400):
        return ConfigError(
            f"Plaid refused the hub's request ({code or 'HTTP ' + str(status)}).",
            remediation="Ask the hub's operator to check PLAID_CLIENT_ID, PLAID_SECRET and PLAID_ENV.",
        )
    if status == 429 or error_type == "RATE_LIMIT_EXCEEDED":
        return RateLimited(
            f"Plaid's rate limit was reached ({code or 'RATE_LIMIT_EXCEEDED'}).",
            retry_after=retry_after_seconds(response) or RATE_LIMIT_WAIT,
            remediation="The hub waits and continues on its own.",
        )
    if status >= 500 or code in ("PRODUCT_NOT_READY", "INSTITUTION_DOWN", "INSTITUTION_NOT_RESPONDING"):
        return TransientError(f"Plaid or the bank had a temporary problem ({code or 'HTTP ' + str(status)}).")
    return ConfigError(f"Plaid answered HTTP {status} ({code or error_type or 'no error code'}){said}.")


def item_identity(item_id: str) -> str:
    """The integration's account identity: how the webhook finds the integrations of an Item."""
    return f"Plaid item {item_id}"


def _day(value: str) -> datetime.datetime:
    return datetime.datetime.combine(datetime.date.fromisoformat(value), datetime.time(), tzinfo=datetime.UTC)


@registry.register("plaid")
class PlaidConnector(Connector):
    def _post(self, path: str, body: dict | None = None) -> dict:
        token = (self.secrets.get("access_token") or "").strip()
        if not token:
            raise AuthError("This integration has no Plaid access token.", remediation=RELINK)
        client_id, secret, _env = operator_keys()
        response = self.http.post(
            f"{plaid_base()}{path}",
            json={"client_id": client_id, "secret": secret, "access_token": token, **(body or {})},
            ok=ANY_STATUS,
        )
        if response.status_code == 200:
            # Amounts are read as Decimal straight from the JSON text: a float would round them.
            data = json.loads(response.text, parse_float=Decimal)
            return data if isinstance(data, dict) else {}
        raise plaid_error(response)

    def test_connection(self) -> str:
        item = self._post("/item/get").get("item") or {}
        accounts = self._post("/accounts/balance/get").get("accounts") or []
        return f"{item_identity(item.get('item_id', '?'))} ({len(accounts)} accounts)"

    # Sync ---------------------------------------------------------------------------------------

    def list_changes(self, cursor):
        start = str((cursor or {}).get("transactions") or "")
        accounts = self._post("/accounts/balance/get").get("accounts") or []
        names = {a.get("account_id"): a.get("official_name") or a.get("name") or "" for a in accounts}
        known = {f"account:{a['account_id']}" for a in accounts if a.get("account_id")}
        gone = sorted(self.ctx.known_ids("account:") - known)
        yield Batch(items=[{"_type": "account", **a} for a in accounts], deletes=gone, cursor={"transactions": start})

        include_pending = bool(self.config.get("include_pending"))
        for _attempt in range(MAX_RESTARTS):
            try:
                yield from self._sync_loop(start, names, include_pending)
                return
            except SyncMutated:
                continue
        raise TransientError("Plaid's transactions kept changing while the hub read them; the next sync continues.")

    def _sync_loop(self, start: str, names: dict, include_pending: bool):
        """One pagination loop from `start`; a mutation during it raises for the caller to restart."""
        page_cursor = start
        pages = PageGuard("Plaid", what="transactions", start=start)
        while True:
            body: dict = {"cursor": page_cursor, "count": PAGE_SIZE}
            if not start:
                days = max(1, min(730, int(self.config.get("window_days") or 30)))
                body["options"] = {"days_requested": days}
            page = self._post("/transactions/sync", body)
            changed = [*(page.get("added") or []), *(page.get("modified") or [])]
            items = [
                {"_type": "transaction", "_account_name": names.get(t.get("account_id"), ""), **t}
                for t in changed
                if include_pending or not t.get("pending")
            ]
            # Updated to pending while pending is not wanted: whatever was stored goes.
            deletes = [
                f"transaction:{t['transaction_id']}" for t in changed if t.get("pending") and not include_pending
            ]
            deletes += [
                f"transaction:{r['transaction_id']}" for r in page.get("removed") or [] if r.get("transaction_id")
            ]
            page_cursor = page.get("next_cursor") or page_cursor
            more = bool(page.get("has_more"))
            if more:
                pages.follow(page_cursor)
            # Until the loop ends, the saved cursor stays where the loop began (see the docstring).
            yield Batch(items=items, deletes=deletes, cursor={"transactions": start if more else page_cursor})
            self.ctx.heartbeat()
            if not more:
                return

    def transform(self, raw: dict) -> Record:
        try:
            return self._account(raw) if raw["_type"] == "account" else self._transaction(raw)
        except (KeyError, ValueError, TypeError) as exc:
            raise ItemError(
                f"Plaid sent a {raw.get('_type', 'record')} without {exc}",
                external_id=str(raw.get("transaction_id") or raw.get("account_id")),
            ) from exc

    def _transaction(self, raw: dict) -> Record:
        amount = money(raw["amount"])
        currency = raw.get("iso_currency_code") or raw.get("unofficial_currency_code") or ""
        payee = raw.get("merchant_name") or raw.get("name") or ""
        pfc = raw.get("personal_finance_category") or {}
        category = pfc.get("detailed") or pfc.get("primary") or " > ".join(raw.get("category") or [])
        when = raw.get("authorized_date") or raw["date"]
        data = {
            "amount": amount,
            "currency": currency,
            "date": raw["date"],
            "account": raw.get("_account_name") or "",
            "account_id": raw.get("account_id") or "",
            "payee": payee,
            "category": category,
            "memo": raw.get("original_description") or raw.get("name") or "",
            "status": "pending" if raw.get("pending") else "posted",
            "transaction_id": raw["transaction_id"],
            "pending_transaction_id": raw.get("pending_transaction_id"),
            "authorized_date": raw.get("authorized_date"),
            "payment_channel": raw.get("payment_channel") or "",
            "merchant_entity_id": raw.get("merchant_entity_id"),
            "website": raw.get("website"),
        }
        return Record(
            external_id=f"transaction:{raw['transaction_id']}",
            kind="transaction",
            title=f"{payee or 'Transaction'} {amount} {currency}".strip(),
            summary=truncate(" · ".join(x for x in (data["account"], category, data["status"]) if x), 280),
            occurred_at=_day(when),
            data=data,
        )

    def _account(self, raw: dict) -> Record:
        balances = raw.get("balances") or {}
        currency = balances.get("iso_currency_code") or balances.get("unofficial_currency_code") or ""
        current = plain_money(balances.get("current"))
        return Record(
            external_id=f"account:{raw['account_id']}",
            kind="plaid_account",
            title=raw.get("official_name") or raw.get("name") or raw["account_id"],
            summary=f"{current} {currency}".strip(),
            data={
                "account_id": raw["account_id"],
                "name": raw.get("name") or "",
                "mask": raw.get("mask") or "",
                "type": raw.get("type") or "",
                "subtype": raw.get("subtype") or "",
                "current": current,
                "available": plain_money(balances.get("available")),
                "limit": plain_money(balances.get("limit")),
                "currency": currency,
                "balance_updated": balances.get("last_updated_datetime"),
            },
        )
