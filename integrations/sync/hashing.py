"""A record's content hash, compared with the stored one on every re-sync: equal hash, nothing to
rewrite. Its bytes must never change (every stored record would look changed once), so the hash
stays the SHA-256 of one canonical JSON object (sorted keys, compact separators, ASCII escapes):
{"data":...,"kind":...,"occurred_at":...,"source_url":...,"summary":...,"title":...}."""

import hashlib

from django.core.serializers.json import DjangoJSONEncoder

# One encoder for every record (json.dumps(cls=...) builds one per call). DjangoJSONEncoder's
# default() only runs for values JSON has no type for (datetimes, Decimals, UUIDs): the C encoder
# does the rest.
# allow_nan=False: NaN and Infinity have no JSON form (the database would refuse the text), so
# encode() raises ValueError for them; every other value encodes as before.
_CANONICAL = DjangoJSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False)


def encode(record) -> tuple[str, str]:
    """The record's data as JSON text, ready for its row, and its content hash, from one encoding
    of the data (the larger part of a record): the canonical object is assembled around that text,
    byte for byte what encoding the whole object at once gives (its keys sort "data" first)."""
    data = _CANONICAL.encode(record.data)
    rest = _CANONICAL.encode(
        {
            "kind": record.kind,
            "title": record.title,
            "summary": record.summary,
            "occurred_at": record.occurred_at.isoformat() if record.occurred_at else None,
            "source_url": record.source_url,
        }
    )
    payload = f'{{"data":{data},{rest[1:]}'
    return data, hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()


def content_hash(record) -> str:
    """A stable hash of what the user sees of a record."""
    return encode(record)[1]
