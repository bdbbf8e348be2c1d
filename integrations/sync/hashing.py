import hashlib
import json

from django.core.serializers.json import DjangoJSONEncoder


def content_hash(record) -> str:
    """A stable hash of what the user sees of a record: equal hash, nothing to rewrite."""
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
