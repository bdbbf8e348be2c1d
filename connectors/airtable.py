"""Airtable: workflow results appended as table records, and records read from a table.

Output: POST /v0/{base}/{table} {"records": [{"fields": {...}}], "typecast": true}, ten records
per request (Airtable's maximum). The columns come from the field mapping, one "Column = card
field" line each; card fields are title, markdown (or summary), html, url, tags (a list, for a
multiple select), due (or date), key, and data.<name> for a value the source put in the card's
data. When a key column is set, each record carries the card's delivery key and is written with
PATCH + performUpsert on that column, so delivering the same card twice updates one record
instead of adding a second.

Source: GET /v0/{base}/{table}?view=&pageSize=100, following "offset" (at most 1,000 records; an
offset that expired, 422 LIST_RECORDS_ITERATOR_NOT_AVAILABLE, starts the listing again). A
scheduled sync mirrors the table: rows deleted in Airtable (or gone from the view) are deleted
here too, unless the listing was cut at the cap.

Rate limits: five requests per second per base (the blueprint's burst window). Past it Airtable
answers 429 and wants 30 seconds of silence, without a Retry-After header: the HTTP client backs
off on its own first, and if Airtable still refuses, the connector pauses AIRTABLE_RATE_LIMIT_PAUSE
seconds (30 by default) and tries once more, so results are not dropped.

Docs: https://airtable.com/developers/web/api/create-records,
https://airtable.com/developers/web/api/update-multiple-records (performUpsert),
https://airtable.com/developers/web/api/list-records, https://airtable.com/developers/web/api/rate-limits,
https://airtable.com/developers/web/api/errors, https://airtable.com/developers/web/api/get-user-id-scopes
"""

from __future__ import annotations

import datetime
from urllib.parse import quote

from django.conf import settings as django_settings

from connectors.base import Connector, Delivery, OutgoingCard, Record
from connectors.errors import AuthError, ConfigError, ConnectorError, RateLimited, TransientError
from connectors.paging import PageGuard
from connectors.registry import registry
from connectors.webapi import ANY_STATUS, QueryAsSync, api_base, deliver_each, json_or_empty, merged_config

BATCH, RECORDS_MAX = 10, 1000
ITERATION_RESTARTS = 2  # listings started again after Airtable's paging offset expired


class IterationExpired(TransientError):
    """422 LIST_RECORDS_ITERATOR_NOT_AVAILABLE: the listing must start again from its first page."""


ALIASES = {"summary": "markdown", "date": "due", "link": "url"}
CARD_FIELDS = {"title", "markdown", "html", "url", "tags", "due", "key"}
AUTH_TYPES = {"AUTHENTICATION_REQUIRED", "INVALID_PERMISSIONS", "INVALID_API_KEY"}
FIELD_TYPES = {"UNKNOWN_FIELD_NAME", "INVALID_VALUE_FOR_COLUMN", "INVALID_MULTIPLE_CHOICE_OPTIONS"}


def parse_field_map(text: str) -> list[tuple[str, str]]:
    mapping = []
    for number, raw in enumerate((text or "").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        column, sep, field = line.rpartition("=")
        column, field = column.strip(), ALIASES.get(field.strip().lower(), field.strip().lower())
        if not sep or not column:
            raise ConfigError(f'Field mapping, line {number}: "{line}" is not "Column = field".', field="field_map")
        if field not in CARD_FIELDS and not (field.startswith("data.") and len(field) > 5):
            raise ConfigError(
                f'Field mapping, line {number}: "{field}" is not an item field.',
                field="field_map",
                remediation="Use title, markdown, html, url, tags, due, key or data.<name>.",
            )
        mapping.append((column, field))
    if not mapping:
        raise ConfigError("The field mapping is empty.", field="field_map", remediation="Add e.g. Name = title.")
    return mapping


def card_value(card: OutgoingCard, field: str, zone: datetime.tzinfo = datetime.UTC):
    """The value a column gets; a time without a zone is the person's own hour (`zone`), written
    with its offset (Airtable reads a time without one as UTC)."""
    if field.startswith("data."):
        value = card.data
        for part in field[5:].split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return value
    value = getattr(card, field)
    if isinstance(value, datetime.datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if field == "tags":
        return list(value)
    return value


@registry.register("airtable")
class AirtableConnector(QueryAsSync, Connector):
    mirrors_source = True  # a sync lists the whole table (or view): rows deleted there go here too

    def _target(self, settings: dict) -> str:
        base_id, table = (settings.get("base_id") or "").strip(), (settings.get("table") or "").strip()
        if not base_id.startswith("app"):
            raise ConfigError(
                "An Airtable base ID starts with app.",
                field="base_id",
                remediation="Copy it from the base's address: airtable.com/appXXXXXXXXXXXXXX/...",
            )
        if not table:
            raise ConfigError("Name the table (or give its ID).", field="table")
        return (
            f"{api_base('airtable', 'https://api.airtable.com')}/v0/{quote(base_id, safe='')}/{quote(table, safe='')}"
        )

    def _call(self, method: str, url: str, **kwargs) -> dict:
        token = self.secrets.get("token")
        if not token:
            raise AuthError("No Airtable token is set.", field="token")
        headers = {"Authorization": f"Bearer {token}"}
        response = self.http.request(method, url, headers=headers, ok=ANY_STATUS, **kwargs)
        if response.status_code == 429:
            pause = django_settings.AIRTABLE_RATE_LIMIT_PAUSE
            self.http.policy.sleep(pause)  # Airtable asks for 30 s of silence; then one more try
            response = self.http.request(method, url, headers=headers, ok=ANY_STATUS, **kwargs)
        data = json_or_empty(response)
        if response.status_code == 200:
            return data
        raise self._error(response.status_code, data)

    def test_connection(self) -> str:
        me = self._call("GET", f"{api_base('airtable', 'https://api.airtable.com')}/v0/meta/whoami")
        identity = me.get("email") or me.get("id") or "Airtable user"
        if self.config.get("base_id") and self.config.get("table"):
            self._call("GET", self._target(self.config), params={"maxRecords": 1})
            identity += f", table {self.config['table']}"
        return identity

    # Output ------------------------------------------------------------------------------------

    def send(self, cards: list, config: dict) -> Delivery:
        settings = merged_config(self, config)
        url = self._target(settings)
        mapping = parse_field_map(settings.get("field_map") or "Name = title")
        key_field = (settings.get("key_field") or "").strip()
        zone = self.ctx.zone()
        rows = []
        for card in cards:
            fields = {column: card_value(card, field, zone) for column, field in mapping}
            fields = {k: v for k, v in fields.items() if v not in (None, "", [])}
            if key_field and card.key:
                fields[key_field] = card.key
            rows.append({"fields": fields})
        batches = [rows[i : i + BATCH] for i in range(0, len(rows), BATCH)]
        updated = []

        def write(batch: list[dict]) -> str:
            if key_field:
                body = {"performUpsert": {"fieldsToMergeOn": [key_field]}, "records": batch, "typecast": True}
                data = self._call("PATCH", url, json=body)
                updated.extend(data.get("updatedRecords") or [])
            else:
                data = self._call("POST", url, json={"records": batch, "typecast": True})
            return ",".join(r["id"] for r in data.get("records") or [])

        delivery = deliver_each(batches, write, unit="batch", cards_in=len)
        delivery.external_ids = [i for joined in delivery.external_ids for i in joined.split(",") if i]
        delivery.delivered = len(delivery.external_ids)
        delivery.detail = f"{delivery.delivered - len(updated)} record(s) added"
        if updated:
            delivery.detail += f", {len(updated)} already there updated in place (same key)"
        delivery.detail += "."
        return delivery

    # Source ------------------------------------------------------------------------------------

    def query(self, config: dict) -> list[Record]:
        settings = merged_config(self, config)
        url, params = self._target(settings), {"pageSize": 100}
        if settings.get("view"):
            params["view"] = settings["view"]
        rows: list[dict] = []
        first, restarts = dict(params), 0
        pages = PageGuard("Airtable", what=f"table {settings.get('table')!r}")
        while len(rows) < RECORDS_MAX:
            try:
                data = self._call("GET", url, params=params)
            except IterationExpired:
                # The paging offset timed out; Airtable's answer is to read again from the beginning.
                restarts += 1
                if restarts > ITERATION_RESTARTS:
                    raise
                rows, params = [], dict(first)
                pages = PageGuard("Airtable", what=f"table {settings.get('table')!r}")
                continue
            rows += data.get("records") or []
            if not data.get("offset"):
                break
            params = {**params, "offset": pages.follow(data["offset"])}
            self.ctx.heartbeat()
        self.truncated = len(rows) >= RECORDS_MAX
        return [self._record(row, settings) for row in rows[:RECORDS_MAX]]

    def _record(self, row: dict, settings: dict) -> Record:
        fields = row.get("fields") or {}
        title = next((str(fields[n]) for n in ("Name", "Title", "name", "title") if fields.get(n)), "")
        title = title or next((v for v in fields.values() if isinstance(v, str) and v.strip()), row["id"])
        created = row.get("createdTime")
        return Record(
            external_id=row["id"],
            kind="airtable_record",
            title=title[:300],
            occurred_at=datetime.datetime.fromisoformat(created.replace("Z", "+00:00")) if created else None,
            source_url=f"https://airtable.com/{settings.get('base_id', '')}/{row['id']}",
            data={"fields": fields, "table": settings.get("table")},
        )

    # Errors ------------------------------------------------------------------------------------

    def _error(self, status: int, data: dict) -> ConnectorError:
        error = data.get("error")
        kind = (error.get("type") if isinstance(error, dict) else error) or ""
        message = self.quote((error.get("message") if isinstance(error, dict) else "") or kind) or f"HTTP {status}"
        if status == 401 or kind in AUTH_TYPES:
            return AuthError(
                f"Airtable refused the token ({message}).",
                field="token",
                remediation="Create a token at airtable.com/create/tokens with data.records:read and "
                "data.records:write, for this base.",
            )
        if kind == "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND" or status in (403, 404):
            return ConfigError(
                f"Airtable cannot reach that base or table ({message}).",
                field="base_id",
                remediation="Check the base ID and table name, and that the token was given access to this base.",
            )
        if kind == "LIST_RECORDS_ITERATOR_NOT_AVAILABLE":
            return IterationExpired("Airtable's listing of the table timed out before it was read to the end.")
        if status == 429:
            return RateLimited("Airtable is still rate limiting this base after a 30 s pause.", retry_after=30)
        if status >= 500:
            return TransientError(f"Airtable had an error (HTTP {status}).")
        field = "field_map" if kind in FIELD_TYPES else None
        return ConfigError(f"Airtable did not accept the records: {message}", field=field)
