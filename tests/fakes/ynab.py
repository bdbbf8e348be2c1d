"""Contract fake of the YNAB API v1 (read side).

Follows https://api.ynab.com/ (Authentication: "Authorization: Bearer <token>"; Rate Limiting:
200 requests per rolling hour per token, then 429; Errors: {"error": {"id", "name", "detail"}};
Delta Requests: `last_knowledge_of_server` returns only entities changed since that
`server_knowledge`, deleted ones with "deleted": true) and the v1 endpoint reference:
GET /user, GET /budgets, GET /budgets/{id}/accounts, /categories (grouped), /transactions
(`since_date`). Amounts are integers in milliunits. "last-used" is accepted as a budget ID.

OAuth (https://api.ynab.com/#oauth-applications): GET /oauth/authorize (client_id, redirect_uri,
response_type=code, scope "read-only", state; here the user's "Authorize" is immediate: a redirect
back with code and state); POST /oauth/token, grant_type authorization_code (code, redirect_uri)
or refresh_token, client credentials in the body or HTTP Basic -> {"access_token", "token_type":
"Bearer", "expires_in": 7200, "refresh_token", "scope"}. Codes are single use; a refresh
returns a new refresh token and retires the old one. A retired or expired access token gets 401.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import urlencode

from werkzeug import Response

from tests.fakes.contract import ContractFake

TOKEN = "ynab-fake-personal-access-token"
BUDGET_ID = "6ee704d9-ee24-4c36-b1a6-cb8ccf6a216c"
OTHER_BUDGET_ID = "11111111-2222-3333-4444-555555555555"
ACCOUNT_ID = "aa248caa-eed7-4575-a990-717386438d2c"
GROUP_NAME = "Everyday"
CLIENT_ID, CLIENT_SECRET = "ynab-client-id", "ynab-client-secret"


class YnabFake(ContractFake):
    ROUTES = [
        ("GET", r"/v1/user", "user"),
        ("GET", r"/v1/budgets", "budgets"),
        ("GET", r"/v1/budgets/(?P<budget>[^/]+)/(?P<resource>accounts|categories|transactions)", "resource"),
        ("GET", r"/oauth/authorize", "authorize"),
        ("POST", r"/oauth/token", "token"),
    ]
    HOURLY_LIMIT = 200

    def __init__(self):
        super().__init__()
        self.knowledge = 100
        self.accounts: dict[str, dict] = {}
        self.categories: dict[str, dict] = {}
        self.transactions: dict[str, dict] = {}
        self.changed: dict[tuple[str, str], int] = {}  # (resource, id) -> knowledge when last changed
        self.served = 0
        self.deleted_budgets: set[str] = set()
        self.default_budget: str | None = None  # the budget the account chose as its default, if any
        self.tokens = {TOKEN}
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> scope
        self._codes: dict[str, dict] = {}
        self.add_account(ACCOUNT_ID, "Checking", balance=1234560)
        self.add_category("cat-groceries", "Groceries", budgeted=400000, activity=-123450, balance=276550)

    # Seeding (each change bumps the server's knowledge, as YNAB does) ---------------------------

    def _touch(self, resource: str, entity_id: str):
        self.knowledge += 1
        self.changed[(resource, entity_id)] = self.knowledge

    def add_account(self, account_id: str, name: str, balance: int = 0, **extra):
        self.accounts[account_id] = {
            "id": account_id, "name": name, "type": "checking", "on_budget": True, "closed": False,
            "note": None, "balance": balance, "cleared_balance": balance, "uncleared_balance": 0,
            "transfer_payee_id": "tp-1", "deleted": False, **extra,
        }  # fmt: skip
        self._touch("accounts", account_id)

    def add_category(self, category_id: str, name: str, **amounts):
        self.categories[category_id] = {
            "id": category_id, "category_group_id": "grp-1", "name": name, "hidden": False, "note": None,
            "budgeted": 0, "activity": 0, "balance": 0, "goal_type": None, "deleted": False, **amounts,
        }  # fmt: skip
        self._touch("categories", category_id)

    def add_transaction(self, transaction_id: str, date: str, amount: int, payee: str = "Shop", **extra):
        self.transactions[transaction_id] = {
            "id": transaction_id, "date": date, "amount": amount, "memo": None, "cleared": "cleared",
            "approved": True, "flag_color": None, "account_id": ACCOUNT_ID, "account_name": "Checking",
            "payee_id": f"payee-{payee}", "payee_name": payee, "category_id": "cat-groceries",
            "category_name": "Groceries", "transfer_account_id": None, "import_id": None, "deleted": False,
            "subtransactions": [], **extra,
        }  # fmt: skip
        self._touch("transactions", transaction_id)

    def update_transaction(self, transaction_id: str, **changes):
        self.transactions[transaction_id].update(changes)
        self._touch("transactions", transaction_id)

    def delete_transaction(self, transaction_id: str):
        self.transactions[transaction_id]["deleted"] = True
        self._touch("transactions", transaction_id)

    # Protocol ----------------------------------------------------------------------------------

    def _error(self, status: int, name: str, detail: str):
        return self.json({"error": {"id": str(status), "name": name, "detail": detail}}, status=status)

    def _checks(self, request):
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or header[len("Bearer ") :] not in self.tokens:
            return self._error(401, "unauthorized", "Unauthorized")
        with self._lock:
            self.served += 1
            over = self.served > self.HOURLY_LIMIT
        if over:
            return self._error(429, "too_many_requests", "Too many requests")
        return None

    def user(self, request, seen):
        return self._checks(request) or self.json({"data": {"user": {"id": "user-1"}}})

    def budgets(self, request, seen):
        if refused := self._checks(request):
            return refused
        fmt = {"iso_code": "USD", "decimal_digits": 2, "decimal_separator": ".", "symbol_first": True,
               "group_separator": ",", "currency_symbol": "$", "display_symbol": True}  # fmt: skip
        budgets = [
            {"id": BUDGET_ID, "name": "Household", "last_modified_on": "2026-12-01T10:00:00+00:00",
             "first_month": "2025-01-01", "last_month": "2026-12-01", "currency_format": fmt},
            {"id": OTHER_BUDGET_ID, "name": "Old budget", "last_modified_on": "2024-01-01T10:00:00+00:00",
             "first_month": "2023-01-01", "last_month": "2024-01-01", "currency_format": {**fmt, "iso_code": "EUR"}},
        ]  # fmt: skip
        budgets = [b for b in budgets if b["id"] not in self.deleted_budgets]
        default = next((b for b in budgets if b["id"] == self.default_budget), None)
        return self.json({"data": {"budgets": budgets, "default_budget": default}})

    def resource(self, request, seen, budget, resource):
        if refused := self._checks(request):
            return refused
        if budget not in (BUDGET_ID, OTHER_BUDGET_ID, "last-used"):
            return self._error(404, "not_found", "Resource not found")
        since = request.args.get("last_knowledge_of_server")
        table = getattr(self, resource)
        rows = [
            dict(row)
            for entity_id, row in table.items()
            if since is None or self.changed[(resource, entity_id)] > int(since)
        ]
        if since is None:
            rows = [r for r in rows if not r.get("deleted")]  # a full read lists only live entities
        if resource == "transactions" and (since_date := request.args.get("since_date")):
            rows = [r for r in rows if r["date"] >= since_date]
        if resource == "categories":
            body = {"category_groups": [{"id": "grp-1", "name": GROUP_NAME, "hidden": False, "deleted": False,
                                         "categories": rows}]}  # fmt: skip
        else:
            body = {resource: rows}
        return self.json({"data": {**body, "server_knowledge": self.knowledge}})

    # OAuth ------------------------------------------------------------------------------------

    def authorize(self, request, seen):
        args = request.args
        redirect_uri, state = args.get("redirect_uri", ""), args.get("state", "")
        if args.get("client_id") != CLIENT_ID or args.get("response_type") != "code":
            return Response("The client is not authorized to perform this request.", status=400)
        code = secrets.token_urlsafe(16)
        self._codes[code] = {
            "redirect_uri": redirect_uri,
            "scope": args.get("scope", ""),
            "challenge": args.get("code_challenge"),
        }
        return Response(status=302, headers={"Location": f"{redirect_uri}?{urlencode({'code': code, 'state': state})}"})

    def _issue(self, scope: str):
        access, refresh = f"ynab-at-{secrets.token_hex(8)}", f"ynab-rt-{secrets.token_hex(8)}"
        self.tokens.add(access)
        self.refresh_tokens[refresh] = scope
        body = {"access_token": access, "token_type": "Bearer", "expires_in": 7200, "refresh_token": refresh}
        return self.json({**body, "scope": scope})

    def token(self, request, seen):
        form = request.form
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if request.authorization is not None:
            client_id, client_secret = request.authorization.username, request.authorization.password
        if (client_id, client_secret) != (CLIENT_ID, CLIENT_SECRET):
            return self.json({"error": "invalid_client", "error_description": "Client authentication failed"}, 401)
        if form.get("grant_type") == "refresh_token":
            scope = self.refresh_tokens.pop(form.get("refresh_token", ""), None)  # rotated: single use
            if scope is None:
                return self.json({"error": "invalid_grant", "error_description": "The refresh token is invalid"}, 400)
            return self._issue(scope)
        grant = self._codes.pop(form.get("code", ""), None)
        if grant is None or form.get("redirect_uri") != grant["redirect_uri"]:
            return self.json({"error": "invalid_grant", "error_description": "The authorization grant is invalid"}, 400)
        if grant["challenge"]:
            digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["challenge"]:
                return self.json({"error": "invalid_grant", "error_description": "Wrong code verifier"}, 400)
        return self._issue(grant["scope"])

    def expire(self, access_token: str):
        """As if two hours had passed: YNAB answers 401 to this token from now on."""
        self.tokens.discard(access_token)
