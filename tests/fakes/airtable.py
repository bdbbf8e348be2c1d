"""Contract fake of the Airtable Web API (records and whoami).

Follows
- https://airtable.com/developers/web/api/create-records: POST /v0/{baseId}/{tableIdOrName}
  {"records": [{"fields"}], "typecast"}, at most 10 records -> {"records": [{"id", "createdTime",
  "fields"}]}.
- https://airtable.com/developers/web/api/update-multiple-records: PATCH with
  {"performUpsert": {"fieldsToMergeOn": [...]}} -> also "createdRecords" and "updatedRecords".
- https://airtable.com/developers/web/api/list-records: GET with pageSize, view, offset. "Iteration
  may timeout due to client inactivity or server restarts": the offset is then answered 422
  LIST_RECORDS_ITERATOR_NOT_AVAILABLE, and the client "may then restart iteration from the
  beginning" (offsets_expire).
- https://airtable.com/developers/web/api/errors: {"error": {"type", "message"}};
  401 AUTHENTICATION_REQUIRED, 403 INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND, 422
  UNKNOWN_FIELD_NAME / INVALID_RECORDS / INVALID_VALUE_FOR_COLUMN.
- https://airtable.com/developers/web/api/rate-limits: 5 requests per second per base; past it
  429 and "you will need to wait 30 seconds before subsequent requests will succeed" (no
  Retry-After header): every request during the penalty gets 429 too. The penalty is shortened
  here (PENALTY seconds) to keep tests fast.
- https://airtable.com/developers/web/api/get-user-id-scopes: GET /v0/meta/whoami.
"""

from __future__ import annotations

import itertools
import time

from tests.fakes.contract import ContractFake

TOKEN = "patFAKE.0123456789abcdef"
BASE_ID = "appFAKEBASE000001"
TABLE = "Reading list"
COLUMNS = {
    "Name": "singleLineText", "Notes": "multilineText", "Link": "url", "Tags": "multipleSelects",
    "Due": "date", "Key": "singleLineText", "Temperature": "number",
}  # fmt: skip


class AirtableFake(ContractFake):
    ROUTES = [
        ("GET", r"/v0/meta/whoami", "whoami"),
        ("POST", r"/v0/(?P<base>\w+)/(?P<table>[^/]+)", "create"),
        ("PATCH", r"/v0/(?P<base>\w+)/(?P<table>[^/]+)", "upsert"),
        ("GET", r"/v0/(?P<base>\w+)/(?P<table>[^/]+)", "list_records"),
    ]
    LIMIT, WINDOW, PENALTY = 5, 1.0, 1.0

    def __init__(self):
        super().__init__()
        self.records: list[dict] = []
        self.rate_limited: list[float] = []
        self._hits: list[float] = []
        self._penalty_until = 0.0
        self._ids = itertools.count(1)
        self.offsets_expire = 0  # how many of the next requests that carry an offset find it expired

    def _error(self, status: int, kind: str, message: str):
        return self.json({"error": {"type": kind, "message": message}}, status=status)

    def _checks(self, request, base, table):
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._error(401, "AUTHENTICATION_REQUIRED", "Authentication required")
        if limited := self._limit():
            return limited
        if base != BASE_ID or table not in (TABLE, "tblREADING000001"):
            return self._error(
                403,
                "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND",
                "Invalid permissions, or the requested model was not found. Check that both your user and your token "
                "have the required permissions, and that the model names and/or ids are correct.",
            )
        return None

    def _limit(self):
        now = time.monotonic()
        with self._lock:
            if now < self._penalty_until:
                limited = True
            else:
                self._hits = [t for t in self._hits if t > now - self.WINDOW]
                limited = len(self._hits) >= self.LIMIT
                if limited:
                    self._penalty_until = now + self.PENALTY
                else:
                    self._hits.append(now)
            if limited:
                self.rate_limited.append(now)
        if limited:
            body = {
                "errors": [{"error": "RATE_LIMIT_REACHED", "message": "Rate limit exceeded. Please try again later"}]
            }
            return self.json(body, status=429)
        return None

    def start_penalty(self):
        """As if another client had just exceeded the base's limit."""
        self._penalty_until = time.monotonic() + self.PENALTY
        return self._penalty_until

    def whoami(self, request, seen):
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._error(401, "AUTHENTICATION_REQUIRED", "Authentication required")
        scopes = ["data.records:read", "data.records:write", "schema.bases:read"]
        return self.json({"id": "usrFAKEUSER00001", "email": "me@example.com", "scopes": scopes})

    def _validate(self, rows: list[dict]):
        if len(rows) > 10:
            return self._error(422, "INVALID_RECORDS", "You can only create or update up to 10 records per request")
        for row in rows:
            for name, value in (row.get("fields") or {}).items():
                if name not in COLUMNS:
                    return self._error(422, "UNKNOWN_FIELD_NAME", f'Unknown field name: "{name}"')
                if COLUMNS[name] != "multipleSelects" and isinstance(value, list):
                    return self._error(
                        422, "INVALID_VALUE_FOR_COLUMN", f'Field "{name}" cannot accept the provided value'
                    )
        return None

    def _new(self, fields: dict) -> dict:
        record = {"id": f"rec{next(self._ids):014d}", "createdTime": "2026-03-06T10:00:00.000Z", "fields": fields}
        self.records.append(record)
        return record

    def create(self, request, seen, base, table):
        if refused := self._checks(request, base, table):
            return refused
        rows = (seen.json or {}).get("records") or []
        if problem := self._validate(rows):
            return problem
        return self.json({"records": [self._new(dict(r["fields"])) for r in rows]})

    def upsert(self, request, seen, base, table):
        if refused := self._checks(request, base, table):
            return refused
        body = seen.json or {}
        merge_on = (body.get("performUpsert") or {}).get("fieldsToMergeOn") or []
        rows = body.get("records") or []
        if not merge_on:
            return self._error(422, "INVALID_REQUEST_MISSING_FIELDS", 'Could not find field "performUpsert"')
        if problem := self._validate(rows) or self._validate([{"fields": dict.fromkeys(merge_on)}]):
            return problem
        out, created, updated = [], [], []
        for row in rows:
            fields = row["fields"]
            match = next((r for r in self.records if all(r["fields"].get(n) == fields.get(n) for n in merge_on)), None)
            if match:
                match["fields"].update(fields)
                updated.append(match["id"])
                out.append(match)
            else:
                record = self._new(dict(fields))
                created.append(record["id"])
                out.append(record)
        return self.json({"records": out, "createdRecords": created, "updatedRecords": updated})

    def list_records(self, request, seen, base, table):
        if refused := self._checks(request, base, table):
            return refused
        if request.args.get("offset") and self.offsets_expire:
            self.offsets_expire -= 1
            return self._error(422, "LIST_RECORDS_ITERATOR_NOT_AVAILABLE", "Iteration timed out; restart it.")
        size = min(int(request.args.get("pageSize", 100)), 100)
        start = int(request.args.get("offset") or 0)
        page = self.records[start : start + size]
        body: dict = {"records": page}
        if start + size < len(self.records):
            body["offset"] = str(start + size)
        return self.json(body)
