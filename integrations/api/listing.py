"""GET /api/v1/integrations, built for a big account (200 integrations): the answer is the same as
json.dumps of {"types": [...], "integrations": [...]} with integration_json rows, made cheaper where
a profile of one request showed the time going.

- The catalogue's share (about 40 KB) is cached already encoded, each type's JSON as two pieces of
  text around its "connected" count, the only part that is the user's.
- The list's SQL is written by the ORM once per process (integrations.prepared); Django spent about
  a millisecond compiling this queryset on every request, longer than PostgreSQL takes to answer it.
- On PostgreSQL the two dates of each row are read with psycopg's C loader: Django 5.2 registers a
  pure-Python one (a subclass that resets the tzinfo) costing about 5 us a value. The answer only
  formats them, in the zone the connection runs in (UTC, as Django sets it).
- Rows are plain tuples with attribute names, never model instances, and every date is formatted
  before encoding, so json.dumps stays in its C encoder for the whole list.
- Each integration's JSON text is kept by the process, keyed by everything it is made of: the row
  as the database gave it (every column the answer shows), its type's brief and the URL patterns.
  The rows are read on every request, so a change anywhere (a sync's counts, a rename, an admin
  edit of the type) is a new key and the answer is never stale; an account polled by an app costs
  one query and a dictionary look-up per integration. Making and encoding each integration's
  dictionary was about two thirds of a request for 200 integrations."""

from __future__ import annotations

import json
from collections import Counter, namedtuple

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Exists, OuterRef, TextField
from django.db.models.functions import Cast
from django.http import HttpResponse

from integrations import catalogue_cache
from integrations.api.serialize import IntegrationLinks, TypeBrief, integration_json, type_json
from integrations.models import Credential, Integration, IntegrationType, Status
from integrations.prepared import Prepared
from integrations.queries import catalogue_for

# What the list reads of each integration (a model instance's attribute names), config last.
FIELDS = (
    "id",
    "type_id",
    "name",
    "status",
    "status_detail",
    "account_identity",
    "sync_interval_minutes",
    "last_synced_at",
    "last_error",
    "consecutive_failures",
    "created_at",
    "item_count",
    "has_credentials",
    "config",
)
Row = namedtuple("Row", FIELDS)


def _queryset(user_id):
    # config as its JSON text: the JSON field's converter (json.loads through the ORM's converter
    # loop, for every row) was the largest share of reading the rows; most configs are "{}".
    return (
        Integration.objects.filter(user_id=user_id)
        .annotate(
            has_credentials=Exists(Credential.objects.filter(integration=OuterRef("pk"))),
            config_text=Cast("config", output_field=TextField()),
        )
        .order_by("name", "pk")
        .values_list(*FIELDS[:-1], "config_text")
    )


def _row(values) -> Row:
    text = values[-1]
    return Row(*values[:-1], {} if text == "{}" else json.loads(text))


def instances(user):
    """The user's rows for the list, as a queryset (its plan is checked with EXPLAIN in the tests)."""
    return _queryset(user.pk)


def _c_timestamps(cursor, vendor: str) -> None:
    if vendor != "postgresql" or not settings.USE_TZ:
        return
    from psycopg import adapters
    from psycopg.postgres import types
    from psycopg.pq import Format

    oid = types["timestamptz"].oid
    cursor.cursor.adapters.register_loader(oid, adapters.get_loader(oid, Format.TEXT))


_rows = Prepared(_queryset, cursor_setup=_c_timestamps, user_id=-7_354_321)  # no user has a negative id


def _dumps(data) -> str:
    return json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False)


def _around_connected(data: dict) -> tuple[str, str]:
    """A type's JSON as the text before and after its "connected" value."""
    items = list(data.items())
    at = next(n for n, (key, _value) in enumerate(items) if key == "connected")
    head = _dumps(dict(items[:at]))[:-1]  # without its closing brace
    tail = _dumps(dict(items[at + 1 :]))[1:]  # without its opening brace
    before = head + (", " if at else "") + '"connected": '
    after = (", " if at < len(items) - 1 else "") + tail
    return before, after


def _catalogue_parts():
    """The catalogue's share of the answer, the same for everyone (cached until it changes): each
    type's id and JSON pieces in the catalogue's order, and what an integration needs of its type."""
    types = list(catalogue_for(None))
    return [(t.pk, *_around_connected(type_json(t))) for t in types], {t.pk: TypeBrief.of(t) for t in types}


def _brief(briefs: dict, type_id: int) -> TypeBrief:
    found = briefs.get(type_id)
    # A type saved without a signal (a raw UPDATE, a fixture) is not in the cache yet: read it.
    return found if found is not None else TypeBrief.of(IntegrationType.objects.get(pk=type_id))


class _KeptTexts:
    """Each integration's JSON text by what it is made of, bounded by size (texts and their rows),
    not number: a long config or error, or an integration polled while it syncs (an entry per
    count), cannot grow it past LIMIT characters; then it starts again."""

    LIMIT = 8_000_000

    def __init__(self):
        self.texts: dict[tuple, str] = {}
        self.size = 0

    def text(self, values: tuple, brief: TypeBrief, links: IntegrationLinks, patterns: tuple) -> str:
        key = (values, brief, patterns)
        found = self.texts.get(key)
        if found is None:
            found = _dumps(integration_json(_row(values), links=links, brief=brief))
            size = 2 * len(found)  # the row holds about what the text says
            if self.size + size > self.LIMIT:
                self.texts.clear()
                self.size = 0
            self.texts[key] = found
            self.size += size
        return found


_KEPT = _KeptTexts()
TYPE_AT, STATUS_AT = FIELDS.index("type_id"), FIELDS.index("status")


def answer(user) -> HttpResponse:
    """The catalogue (with how many of each the user has) and the user's own integrations: one
    query for the user's rows (by the user index, never the items table), the rest from the cache."""
    types, briefs = catalogue_cache.cached("api-types-json", _catalogue_parts)
    rows = _rows.rows(user_id=user.pk)
    connected = Counter(values[TYPE_AT] for values in rows if values[STATUS_AT] != Status.DISCONNECTED)
    links = IntegrationLinks()
    patterns = tuple(links.patterns.items())
    listed = ", ".join(_KEPT.text(tuple(values), _brief(briefs, values[TYPE_AT]), links, patterns) for values in rows)
    catalogue = ", ".join(f"{before}{connected[pk]}{after}" for pk, before, after in types)
    # As json.dumps writes a list: its items' texts joined with ", ".
    body = f'{{"types": [{catalogue}], "integrations": [{listed}]}}'
    response = HttpResponse(body, content_type="application/json")
    response["Cache-Control"] = "no-store"
    return response
