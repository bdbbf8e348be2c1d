"""YNAB (You Need A Budget): budgets, accounts, categories and transactions, read-only.

Two ways in: a personal access token (type "ynab"), or signing in with OAuth (type
"ynab-oauth", read-only scope, two-hour access tokens refreshed by the hub).

One budget per integration (its ID, or "last-used"; when the last-used budget changes, the
earlier budget's records stay, no longer refreshed, and the sync says so once). Each sync asks
for the budget list (budget records, and the budget's currency), then accounts, categories and transactions, each with
`last_knowledge_of_server` set to the `server_knowledge` YNAB returned last time, so YNAB sends
only what changed; a changed entity marked `deleted: true` is deleted here. The first sync reads
transactions from `since_date` (the configured days of history) on. A sync costs four requests.

Amounts are integers in milliunits (1000 = one unit of the currency): they are converted with
Decimal, never float, to decimal strings with the budget's decimal digits ("-12.34"), keeping a
third digit only when the milliunits need it.

Limits: 200 requests per hour per token, rolling. The blueprint's window (190 per 3,600 s)
keeps the hub under it through the shared rate limiter; a 429 (someone else used the token)
is waited out by the engine.

Errors ({"error": {"id", "name", "detail"}}): 401 -> a new token; 403 (subscription lapsed,
data limit) -> what YNAB says; 404 -> the budget ID; 429 -> RateLimited; 5xx -> transient.

Docs: https://api.ynab.com/ (Authentication, Rate Limiting, Errors, Delta Requests),
https://api.ynab.com/v1 (budgets, accounts, categories, transactions).
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from connectors.base import Batch, Connector, Record
from connectors.errors import AuthError, ConfigError, ItemError, RateLimited, TransientError
from connectors.http import retry_after_seconds
from connectors.registry import registry
from connectors.webapi import ANY_STATUS, api_base, json_or_empty, truncate

MILLI = Decimal(1000)
# YNAB's limit is a rolling hour and it sends no Retry-After: a 429 means the token's hour is used
# up elsewhere, so the engine waits a good slice of it before trying again.
RATE_LIMIT_WAIT = 600.0


def money(milliunits, digits: int = 2) -> str:
    """Milliunits (an integer) -> an exact decimal string with the currency's digits."""
    if milliunits is None:
        return ""
    if isinstance(milliunits, bool) or not isinstance(milliunits, int | str):
        raise ValueError(f"an amount of {milliunits!r} is not whole milliunits")
    value = Decimal(int(milliunits)) / MILLI
    quantum = Decimal(1).scaleb(-max(0, int(digits)))
    exact = value.quantize(quantum)
    return str(exact if exact == value else value.quantize(Decimal("0.001")))


def _day(value: str) -> datetime.datetime:
    return datetime.datetime.combine(datetime.date.fromisoformat(value), datetime.time(), tzinfo=datetime.UTC)


@registry.register("ynab")
class YnabConnector(Connector):
    @property
    def base(self) -> str:
        override = ""
        if self.ctx.tokens is not None:
            try:  # the OAuth app's API base, when the operator set one
                override = self.ctx.tokens.api_base_url or ""
            except ConfigError:  # no OAuth app any more: the default base, and the refresh will say why
                override = ""
        return override.rstrip("/") if override else api_base("ynab", "https://api.ynab.com/v1")

    @property
    def budget(self) -> str:
        return str(self.config.get("budget_id") or "last-used").strip() or "last-used"

    def _get(self, path: str, params: dict | None = None) -> dict:
        if self.ctx.tokens is not None:
            # Signed in with OAuth: the bearer token is refreshed ahead of its two-hour expiry, and once
            # more on a 401.
            auth = {"auth": self.ctx.tokens.auth}
        elif token := self.secrets.get("token"):
            auth = {"headers": {"Authorization": f"Bearer {token}"}}
        else:
            raise AuthError("No YNAB personal access token is set.", field="token")
        response = self.http.get(f"{self.base}{path}", params=params, ok=ANY_STATUS, **auth)
        data = json_or_empty(response)
        if response.status_code == 200:
            return data.get("data") or {}
        raise self._error(response, data)

    def test_connection(self) -> str:
        user = self._get("/user").get("user") or {}
        listing = self._get("/budgets")
        budget = self._budget(listing.get("budgets") or [], listing.get("default_budget"))
        return f"YNAB user {user.get('id', '?')}, budget {budget.get('name') or budget['id']}"

    # Sync ---------------------------------------------------------------------------------------

    def list_changes(self, cursor):
        cursor = dict(cursor or {})
        listing = self._get("/budgets")
        budgets = listing.get("budgets") or []
        budget = self._budget(budgets, listing.get("default_budget"))
        budget_id = budget["id"]
        notices = []
        if cursor.get("budget") not in (None, budget_id):
            # "last-used" now means another budget: its knowledge numbers mean nothing here. The
            # earlier budget's records are the person's history (each names its budget, and YNAB's
            # ids are unique across budgets, so nothing mixes): they stay, and the person is told
            # they are no longer refreshed and how to follow that budget instead.
            earlier = cursor["budget"]
            names = {b.get("id"): b.get("name") or b.get("id") for b in budgets}
            notices.append(
                f"YNAB's last-used budget is now {names.get(budget_id, budget_id)!r}, so this integration syncs it "
                f"from now on. The records of {names.get(earlier, 'the budget synced before')!r} stay here but are "
                f"no longer updated; to keep following that budget instead, set the budget ID to {earlier}."
            )
            cursor = {}
        fmt = budget.get("currency_format") or {}
        if not fmt:
            fmt = (self._get(f"/budgets/{budget_id}/settings").get("settings") or {}).get("currency_format") or {}
        cursor.update(budget=budget_id, currency=fmt.get("iso_code", ""), digits=int(fmt.get("decimal_digits", 2)))
        context = {"currency": cursor["currency"], "digits": cursor["digits"], "budget_id": budget_id}
        # The budget list is complete every time: a budget deleted in YNAB is deleted here.
        gone = sorted(self.ctx.known_ids("budget:") - {f"budget:{b['id']}" for b in budgets})
        yield Batch(
            items=[{"_type": "budget", **b, **context} for b in budgets],
            deletes=gone,
            cursor=dict(cursor),
            notices=notices,
        )

        for resource in ("accounts", "categories", "transactions"):
            params = {}
            if cursor.get(resource) is not None:
                params["last_knowledge_of_server"] = cursor[resource]
            elif resource == "transactions":
                days = int(self.config.get("window_days") or 30)
                params["since_date"] = (datetime.date.today() - datetime.timedelta(days=days)).isoformat()
            data = self._get(f"/budgets/{budget_id}/{resource}", params)
            if resource == "categories":
                entities = [
                    {**c, "_group": g.get("name", "")}
                    for g in data.get("category_groups") or []
                    for c in g.get("categories") or []
                ]
            else:
                entities = data.get(resource) or []
            kind = resource[:-1] if resource != "categories" else "category"
            live = [{"_type": kind, **e, **context} for e in entities if not e.get("deleted")]
            gone = [f"{kind}:{e['id']}" for e in entities if e.get("deleted") and e.get("id")]
            cursor[resource] = data.get("server_knowledge", cursor.get(resource))
            yield Batch(items=live, deletes=gone, cursor=dict(cursor), total=len(live))
            self.ctx.heartbeat()

    def _budget(self, budgets: list[dict], default: dict | None = None) -> dict:
        wanted = self.budget
        if wanted == "last-used":
            # The list names the default budget only when the account chose one; otherwise the budget
            # modified last is the one in use. Records need its real ID, not the alias.
            if default:
                return default
            dated = [b for b in budgets if b.get("last_modified_on")]
            if not dated:
                raise ConfigError(
                    "Your YNAB account has no budget yet.",
                    field="budget_id",
                    remediation="Create a budget in YNAB, then sync again.",
                )
            return max(dated, key=lambda b: b["last_modified_on"])
        for budget in budgets:
            if budget.get("id") == wanted:
                return budget
        raise ConfigError(
            f"Your YNAB account has no budget with the ID {wanted}.",
            field="budget_id",
            remediation="Copy the ID from the budget's web address in YNAB (app.ynab.com/<ID>/...), "
            'or use "last-used".',
        )

    def transform(self, raw: dict) -> Record:
        try:
            build = {
                "budget": self._budget_summary,
                "account": self._account,
                "category": self._category,
                "transaction": self._transaction,
            }[raw["_type"]]
            return build(raw)
        except (KeyError, ValueError, TypeError) as exc:
            raise ItemError(
                f"YNAB sent a {raw.get('_type', 'record')} without {exc}", external_id=str(raw.get("id"))
            ) from exc

    def _budget_summary(self, raw: dict) -> Record:
        return Record(
            external_id=f"budget:{raw['id']}",
            kind="ynab_budget",
            title=raw["name"],
            occurred_at=datetime.datetime.fromisoformat(raw["last_modified_on"].replace("Z", "+00:00"))
            if raw.get("last_modified_on")
            else None,
            source_url=f"https://app.ynab.com/{raw['id']}/budget",
            data={
                "budget_id": raw["id"],
                "currency": (raw.get("currency_format") or {}).get("iso_code", ""),
                "first_month": raw.get("first_month"),
                "last_month": raw.get("last_month"),
                "last_modified_on": raw.get("last_modified_on"),
                "synced": raw["id"] == raw["budget_id"],
            },
        )

    def _transaction(self, raw: dict) -> Record:
        digits = raw["digits"]
        cleared = raw.get("cleared") or ""
        amount = money(raw["amount"], digits)
        splits = [
            {
                "amount": money(s.get("amount"), digits),
                "payee": s.get("payee_name") or "",
                "category": s.get("category_name") or "",
                "memo": s.get("memo") or "",
            }
            for s in raw.get("subtransactions") or []
            if not s.get("deleted")
        ]
        payee = raw.get("payee_name") or ""
        data = {
            "amount": amount,
            "currency": raw["currency"],
            "date": raw["date"],
            "account": raw.get("account_name") or "",
            "account_id": raw.get("account_id") or "",
            "payee": payee,
            "category": raw.get("category_name") or "",
            "memo": raw.get("memo") or "",
            "status": "posted" if cleared in ("cleared", "reconciled") else "pending",
            "transaction_id": raw["id"],
            "cleared": cleared,
            "approved": raw.get("approved"),
            "flag_color": raw.get("flag_color"),
            "transfer_account_id": raw.get("transfer_account_id"),
            "subtransactions": splits,
            "budget_id": raw["budget_id"],
        }
        return Record(
            external_id=f"transaction:{raw['id']}",
            kind="transaction",
            title=f"{payee or 'Transaction'} {amount} {raw['currency']}".strip(),
            summary=truncate(" · ".join(x for x in (data["account"], data["category"], data["memo"]) if x), 280),
            occurred_at=_day(raw["date"]),
            source_url=f"https://app.ynab.com/{raw['budget_id']}/accounts/{data['account_id']}",
            data=data,
        )

    def _account(self, raw: dict) -> Record:
        digits = raw["digits"]
        return Record(
            external_id=f"account:{raw['id']}",
            kind="ynab_account",
            title=raw["name"],
            summary=f"{money(raw.get('balance'), digits)} {raw['currency']}",
            data={
                "account_id": raw["id"],
                "type": raw.get("type") or "",
                "on_budget": bool(raw.get("on_budget")),
                "closed": bool(raw.get("closed")),
                "balance": money(raw.get("balance"), digits),
                "cleared_balance": money(raw.get("cleared_balance"), digits),
                "uncleared_balance": money(raw.get("uncleared_balance"), digits),
                "currency": raw["currency"],
                "note": raw.get("note") or "",
                "budget_id": raw["budget_id"],
            },
        )

    def _category(self, raw: dict) -> Record:
        digits = raw["digits"]
        return Record(
            external_id=f"category:{raw['id']}",
            kind="ynab_category",
            title=raw["name"],
            summary=f"{raw.get('_group', '')} · {money(raw.get('balance'), digits)} {raw['currency']} available",
            data={
                "category_id": raw["id"],
                "group": raw.get("_group", ""),
                "hidden": bool(raw.get("hidden")),
                "budgeted": money(raw.get("budgeted"), digits),
                "activity": money(raw.get("activity"), digits),
                "balance": money(raw.get("balance"), digits),
                "goal_type": raw.get("goal_type"),
                "currency": raw["currency"],
                "note": raw.get("note") or "",
                "budget_id": raw["budget_id"],
            },
        )

    # Errors -------------------------------------------------------------------------------------

    def _error(self, response, data: dict):
        status = response.status_code
        error = data.get("error") if isinstance(data.get("error"), dict) else {}
        name, detail = error.get("name", ""), error.get("detail", "")
        said = f" ({detail})" if detail else ""
        if status == 401 and self.ctx.tokens is not None:
            return AuthError(
                f"YNAB refused the hub's access{said}.",
                remediation="Sign in to YNAB again from this integration's page: the access was revoked or expired.",
            )
        if status == 401:
            return AuthError(
                f"YNAB refused the personal access token{said}.",
                field="token",
                remediation="Create a new personal access token in YNAB (Account Settings, Developer Settings) "
                "and paste it here: the old one was revoked or mistyped.",
            )
        if status == 403:
            return AuthError(
                f"YNAB denied access{said}.",
                remediation="Sign in to YNAB and check the account: a lapsed subscription or trial blocks the API. "
                "Then sync again.",
            )
        if status == 404:
            return ConfigError(
                f"YNAB found no such budget{said}.",
                field="budget_id",
                remediation='Check the budget ID (from the budget\'s web address in YNAB), or use "last-used".',
            )
        if status == 429:
            return RateLimited(
                "YNAB's limit of 200 requests per hour for this token is used up.",
                retry_after=retry_after_seconds(response) or RATE_LIMIT_WAIT,
                remediation="The hub waits and continues on its own. If other apps use the same token, give the hub "
                "its own token.",
            )
        if status >= 500:
            return TransientError(f"YNAB had a temporary problem (HTTP {status}{', ' + name if name else ''}).")
        return ConfigError(f"YNAB answered HTTP {status}{said}.")
