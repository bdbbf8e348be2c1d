"""The content hash is compared with the one stored by earlier syncs: its bytes must not change
(every stored record would look changed, and be rewritten, once), whatever its implementation."""

import datetime
import decimal
import hashlib
import json
import uuid

from django.core.serializers.json import DjangoJSONEncoder

from connectors.base import Record
from integrations.sync.hashing import content_hash, encode

RICH = Record(
    external_id="x",
    kind="message",
    title="Café ☕",
    summary='line\nnext "q"',
    occurred_at=datetime.datetime(2024, 3, 5, 9, 30, tzinfo=datetime.UTC),
    data={
        "z": 1,
        "a": [1.5, None, True],
        "when": datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
        "day": datetime.date(2024, 1, 2),
        "amount": decimal.Decimal("12.30"),
        "id": uuid.UUID(int=7),
        "nested": {"b": "ü", "a": "\ud83d"},
    },
    source_url="https://e.com/?a=1",
)


def _reference(record) -> str:
    """The hash as every stored row has it: the whole object encoded at once."""
    payload = {
        "kind": record.kind,
        "title": record.title,
        "summary": record.summary,
        "occurred_at": record.occurred_at.isoformat() if record.occurred_at else None,
        "data": record.data,
        "source_url": record.source_url,
    }
    encoded = json.dumps(payload, sort_keys=True, cls=DjangoJSONEncoder, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("utf-8", "surrogatepass")).hexdigest()


def test_stored_hashes_still_match():
    # Values computed by the release that stored them: a change here re-writes every record once.
    assert content_hash(RICH) == "11e7bf8319b10152e59a598e21547e56a6e61e9e31231cefe44301a651885252"
    assert content_hash(Record(external_id="y", kind="event")) == (
        "9c0bfef7eda51fed3b722daa601a909272581e7b98678e0b37b24e5d2b4636f1"
    )


def test_hash_equals_encoding_the_whole_object():
    records = [
        RICH,
        Record(external_id="e", kind="event", data={}),
        Record(external_id="l", kind="entry", title="", summary="", data={"list": [{"b": 1, "a": 2}]}),
        Record(external_id="u", kind="entry", title="日本", summary="\x00\t", data={"k": "\u2028 é"}),
    ]
    for record in records:
        assert content_hash(record) == _reference(record)


def test_the_data_text_is_the_canonical_encoding_of_the_data():
    data, digest = encode(RICH)
    assert json.loads(data) == json.loads(json.dumps(RICH.data, cls=DjangoJSONEncoder))
    assert data == json.dumps(RICH.data, sort_keys=True, cls=DjangoJSONEncoder, separators=(",", ":"))
    assert digest == _reference(RICH)
