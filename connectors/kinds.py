"""The kinds of the personal data layer, and their typed fields.

Every record a connector brings in is one of a small set of kinds (an event, a message, a photo...),
whatever service it came from. A connector declares how its own records map to these (see
`Connector.kind_map` and `Connector.typed`); the timeline reads the typed fields to merge the same
thing arriving from two services, place it, link it to what happened at the same time and to the
people involved. Values in `fields` are JSON: times are ISO 8601 strings with an offset, money a
decimal string, coordinates {"lat", "lon"}, people lists of {"name", "email"}.
docs/kinds.md describes each kind for people who read the records API.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from connectors.zones import zone_named

TEXT, TIME, DATE, NUMBER, INTEGER, DECIMAL, BOOLEAN, LIST, GEO, PERSON, PEOPLE, JSON = (
    "text", "time", "date", "number", "integer", "decimal", "boolean", "list", "geo", "person", "people", "json",
)  # fmt: skip
MAX_TEXT = 10_000


@dataclass(frozen=True)
class Kind:
    key: str
    label: str
    fields: dict[str, str]
    # Whether the record spans time that other records can fall into ("taken during" links).
    spans_time: bool = False


_SPAN = {"start": TIME, "end": TIME}
KINDS: dict[str, Kind] = {
    kind.key: kind
    for kind in (
        Kind(
            "event",
            "Event",
            {
                **_SPAN,
                "all_day": BOOLEAN,
                "timezone": TEXT,
                "location": TEXT,
                "geo": GEO,
                "uid": TEXT,
                "recurrence_id": TEXT,
                "organizer": PERSON,
                "attendees": PEOPLE,
                "status": TEXT,
            },
            spans_time=True,
        ),
        Kind(
            "message",
            "Message",
            {
                "start": TIME,
                "message_id": TEXT,
                "thread_id": TEXT,
                "in_reply_to": TEXT,
                "from": PERSON,
                "to": PEOPLE,
                "cc": PEOPLE,
                "folder": TEXT,
                "has_attachments": BOOLEAN,
            },
        ),
        Kind(
            "photo",
            "Photo or video",
            {
                "media_type": TEXT,
                "start": TIME,
                "geo": GEO,
                "width": INTEGER,
                "height": INTEGER,
                "camera_make": TEXT,
                "camera_model": TEXT,
                "sha256": TEXT,
                "filename": TEXT,
                "albums": LIST,
                "keywords": LIST,
                "people": PEOPLE,
            },
        ),
        Kind(
            "play",
            "Play",
            {**_SPAN, "track": TEXT, "artist": TEXT, "album": TEXT, "track_uri": TEXT, "ms_played": INTEGER},
        ),
        Kind(
            "workout",
            "Workout",
            {
                **_SPAN,
                "activity": TEXT,
                "duration_s": NUMBER,
                "distance_m": NUMBER,
                "energy_kcal": NUMBER,
                "geo": GEO,
                "route": JSON,
                "source": TEXT,
            },
            spans_time=True,
        ),
        Kind(
            "health_sample",
            "Health sample",
            {**_SPAN, "metric": TEXT, "value": NUMBER, "unit": TEXT, "source": TEXT, "category": TEXT},
        ),
        # A day of one sensor's samples of one measure (heart rate, steps, sleep stages): one record
        # with every sample in its data, not one record per sample (see docs/kinds.md).
        Kind(
            "health_series",
            "Health series (a day)",
            {
                **_SPAN,
                "date": DATE,
                "metric": TEXT,
                "unit": TEXT,
                "source": TEXT,
                "count": INTEGER,
                "value": NUMBER,
                "sum": NUMBER,
                "min": NUMBER,
                "max": NUMBER,
                "avg": NUMBER,
                "minutes": JSON,
            },
        ),
        Kind(
            "location_visit",
            "Location visit",
            {
                **_SPAN,
                "geo": GEO,
                "place_name": TEXT,
                "address": TEXT,
                "provider_place_id": TEXT,
                "activity": TEXT,
                "distance_m": NUMBER,
            },
            spans_time=True,
        ),
        Kind(
            "place",
            "Place",
            {"name": TEXT, "geo": GEO, "address": TEXT, "provider_place_id": TEXT, "url": TEXT, "category": TEXT},
        ),
        Kind(
            "transaction",
            "Transaction",
            {
                "amount": DECIMAL,
                "currency": TEXT,
                "date": DATE,
                "account": TEXT,
                "account_id": TEXT,
                "payee": TEXT,
                "category": TEXT,
                "memo": TEXT,
                "status": TEXT,
                "transaction_id": TEXT,
            },
        ),
        Kind(
            "task",
            "Task",
            {
                "due": TEXT,
                "completed": BOOLEAN,
                "completed_at": TIME,
                "project": TEXT,
                "priority": TEXT,
                "labels": LIST,
                "url": TEXT,
            },
        ),
        Kind(
            "note",
            "Note or highlight",
            {"text": TEXT, "note_type": TEXT, "source_title": TEXT, "author": TEXT, "position": TEXT},
        ),
        Kind(
            "order",
            "Order",
            {
                "order_id": TEXT,
                "date": DATE,
                "total": DECIMAL,
                "currency": TEXT,
                "items": JSON,
                "status": TEXT,
            },
        ),
        Kind("article", "Article", {"url": TEXT, "author": TEXT, "published": TIME, "channel": TEXT}),
        # What no kind above describes (a weather forecast, a mail label): kept and searchable, never linked.
        Kind("other", "Other", {}),
    )
}


@dataclass
class Typed:
    """One record seen as its kind: what the timeline stores and links."""

    kind: str
    fields: dict = field(default_factory=dict)
    start: datetime.datetime | None = None
    end: datetime.datetime | None = None

    @property
    def geo(self) -> dict | None:
        return self.fields.get("geo")

    def people(self) -> list[dict]:
        """Everyone the record names, with the role they play in it."""
        found = []
        for name in ("organizer", "from"):
            if self.fields.get(name):
                found.append({**self.fields[name], "role": name})
        for name in ("attendees", "to", "cc", "people"):
            found += [{**person, "role": name} for person in self.fields.get(name) or []]
        return found


def coerce(kind: str, values: dict) -> dict:
    """The kind's typed fields found in `values`, each in its JSON form; values of the wrong shape
    are left out (the record keeps them in its own data)."""
    spec = KINDS.get(kind, KINDS["other"]).fields
    typed = {}
    for name, type_ in spec.items():
        if name not in values:
            continue
        value = _COERCE[type_](values[name])
        if value is not None and value != "" and value != []:
            typed[name] = value
    return typed


# The instants every zone can show: "never" is 9999-12-31 for several services and a zeroed clock
# gives year 1, and either, seen 14 hours east or west, is a day that does not exist (Python raises
# OverflowError converting it). Such a time is held a day inside the calendar's ends; the record's
# data keeps what the source wrote.
SHOWN_FIRST = datetime.datetime(1, 1, 2, tzinfo=datetime.UTC)
SHOWN_LAST = datetime.datetime(9999, 12, 30, 23, 59, 59, tzinfo=datetime.UTC)


def within_calendar(moment: datetime.datetime | None) -> datetime.datetime | None:
    """An aware time as it is, or held at SHOWN_FIRST / SHOWN_LAST when any zone could not show it.
    A naive time is returned as it is (what it means is its reader's to say)."""
    if moment is None or moment.tzinfo is None:
        return moment
    try:
        utc = moment.astimezone(datetime.UTC)
    except OverflowError:  # beyond year 9999 (or before year 1) in UTC itself
        return SHOWN_LAST if moment.year > 5000 else SHOWN_FIRST
    if utc < SHOWN_FIRST:
        return SHOWN_FIRST
    return SHOWN_LAST if utc > SHOWN_LAST else moment


def parse_time(value) -> datetime.datetime | None:
    """An aware datetime from an ISO string, a datetime or a date (a date is its UTC midnight),
    within the calendar every zone can show (within_calendar)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime.datetime):
        result = value
    elif isinstance(value, datetime.date):
        result = datetime.datetime.combine(value, datetime.time(), tzinfo=datetime.UTC)
    elif isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        try:
            result = datetime.datetime.fromisoformat(text)
        except ValueError:
            return None
    else:
        return None
    if result.tzinfo is None:
        result = result.replace(tzinfo=datetime.UTC)
    return within_calendar(result)


def _time(value):
    parsed = parse_time(value)
    return parsed.isoformat() if parsed else None


def _date(value):
    if isinstance(value, datetime.datetime):
        return value.date().isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return datetime.date.fromisoformat(value.strip()[:10]).isoformat()
        except ValueError:
            return None
    return None


def _text(value):
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)[:MAX_TEXT]


def _number(value):
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _integer(value):
    number = _number(value)
    return int(number) if number is not None else None


def _decimal(value):
    if isinstance(value, float):
        value = repr(value)
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return str(number) if number.is_finite() else None


def _boolean(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes", "1"):
        return True
    if isinstance(value, str) and value.lower() in ("false", "no", "0"):
        return False
    return None


def _list(value):
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        return None
    return [str(v)[:500] for v in value if v not in (None, "") and not isinstance(v, dict | list)]


def geo(value) -> dict | None:
    """{"lat", "lon"} from a dict (lat/lon, latitude/longitude) or a (lat, lon) pair; None for
    anything outside the globe, and for (0, 0), which sources write when they know nothing."""
    if isinstance(value, dict):
        lat = value.get("lat", value.get("latitude"))
        lon = value.get("lon", value.get("lng", value.get("longitude")))
    elif isinstance(value, list | tuple) and len(value) == 2:
        lat, lon = value
    else:
        return None
    lat, lon = _number(lat), _number(lon)
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None
    return {"lat": round(lat, 6), "lon": round(lon, 6)}


def person(value) -> dict | None:
    """{"name", "email"} from a dict, an address string ("Ann <ann@example.com>") or an email."""
    if isinstance(value, dict):
        name, email = value.get("name") or "", value.get("email") or value.get("address") or ""
    elif isinstance(value, str):
        from email.utils import parseaddr

        name, email = parseaddr(value)
        if not email and value and "@" not in value:
            name, email = value, ""
    else:
        return None
    name, email = str(name).strip()[:200], str(email).strip().lower()[:254]
    if email and ("@" not in email or " " in email):
        email = ""
    if not name and not email:
        return None
    return {"name": name, "email": email}


def _people(value):
    if isinstance(value, str):
        from email.utils import getaddresses

        # "Ann <ann@example.com>, bob@example.com": a header's list of addresses.
        value = [f"{name} <{email}>" if name and email else (email or name) for name, email in getaddresses([value])]
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list | tuple):
        return None
    return [p for p in (person(v) for v in value) if p]


def _json(value):
    return value if isinstance(value, list | dict) else None


_COERCE = {
    TEXT: _text,
    TIME: _time,
    DATE: _date,
    NUMBER: _number,
    INTEGER: _integer,
    DECIMAL: _decimal,
    BOOLEAN: _boolean,
    LIST: _list,
    GEO: geo,
    PERSON: person,
    PEOPLE: _people,
    JSON: _json,
}


# Names sources commonly use for a typed field, tried when the canonical name is absent.
ALIASES = {
    "start": ("taken_at", "played_at_start", "started_at"),
    "uid": ("ical_uid",),
    "albums": ("album",),
    "published": ("published_at",),
    "text": ("body",),
}


def typed_record(connector_cls, item) -> Typed:
    """How the timeline sees a stored record (anything with kind, title, summary, occurred_at and
    data): the kind the connector maps it to, and its typed fields.

    A connector declares `kind_map` ({its own kind: one of KINDS}) and may override
    `typed_fields(item) -> dict` when its data names fields differently; by default the kind's
    fields are read from data under their own names (or the common aliases above)."""
    own = item.kind or ""
    kind_map = getattr(connector_cls, "kind_map", None) or {}
    kind = kind_map.get(own) or (own if own in KINDS else "other")
    hook = getattr(connector_cls, "typed_fields", None)
    values = dict(item.data or {})
    for name, aliases in ALIASES.items():
        if name not in values:
            for alias in aliases:
                if values.get(alias) not in (None, ""):
                    values[name] = values[alias]
                    break
    if hook is not None:
        values.update(hook(item) or {})
    fields = coerce(kind, values)
    start = parse_time(fields.get("start")) or _aware(item.occurred_at)
    if kind == "transaction" and "date" in fields and start is None:
        start = parse_time(fields["date"])
    if start is not None and "start" in KINDS[kind].fields:
        fields.setdefault("start", start.isoformat())
    end = parse_time(fields.get("end"))
    if end is not None and start is not None and end < start:
        end = None  # a source's inverted range: keep the start, drop the nonsense
    return Typed(kind=kind, fields=fields, start=start, end=end)


def _aware(value):
    if value is None:
        return None
    return within_calendar(value if value.tzinfo else value.replace(tzinfo=datetime.UTC))


def calendar_fields(data: dict) -> dict:
    """Typed fields of an iCalendar event or task as the iCal feed and CalDAV connectors store it."""
    data = data or {}
    fields = {"timezone": data.get("tzid")}
    if data.get("floating"):
        # A floating time is stored as written (no offset); the connector read it in the calendar's
        # zone (tzid), as the timeline must too: read alone it would be taken for UTC.
        zone = zone_named(data.get("tzid"))
        if zone is not None:
            for name in ("start", "end", "recurrence_id"):
                fields[name] = _local_in(data.get(name), zone)
    if data.get("recurring") and not data.get("recurrence_id"):
        # one occurrence of a series: its own start
        fields["recurrence_id"] = fields.get("start") or data.get("start")
    if "completed" in data:  # a VTODO: COMPLETED is a time
        fields["completed"] = bool(data.get("completed")) or (data.get("status") or "").upper() == "COMPLETED"
        fields["completed_at"] = data.get("completed")
    return fields


def _local_in(value, zone):
    """An ISO time without offset placed in `zone`; anything else as it was."""
    if not isinstance(value, str) or "T" not in value:
        return value  # absent, or a date
    try:
        moment = datetime.datetime.fromisoformat(value.strip())
    except ValueError:
        return value
    return moment.replace(tzinfo=zone).isoformat() if moment.tzinfo is None else value
