"""A source whose ids all change at once (IMAP UIDVALIDITY) tombstones that scope's records and
revives each one that comes back with the same match key: no record is deleted and recreated."""

from integrations.models import SyncedItem
from tests.connectors.helpers import live_items, sync
from tests.factories import make_integration
from tests.integrations.scripted import make_scripted_type


def rows(integration):
    return {row.title: row for row in SyncedItem.objects.filter(integration=integration)}


def test_records_back_under_new_ids_revive_their_rows(owner):
    before = {
        "batches": [{"items": [["f/1/10", "A", "f/<a@x>"], ["f/1/11", "B", "f/<b@x>"], ["g/1/5", "G", "g/<g@x>"]]}]
    }
    integration = make_integration(owner, make_scripted_type(), config=before)
    assert sync(integration).created == 3
    first = rows(integration)

    after = {
        "batches": [
            {"reset_prefix": "f/"},  # folder f's identity changed: every id under it is void
            {"items": [["f/2/1", "A", "f/<a@x>"], ["f/2/2", "New", "f/<n@x>"]]},
        ]
    }
    integration.config = after
    integration.save(update_fields=["config"])
    job = sync(integration, kind="full")

    now = rows(integration)
    assert (now["A"].pk, now["A"].external_id, now["A"].deleted_at) == (first["A"].pk, "f/2/1", None)
    assert now["A"].first_seen_at == first["A"].first_seen_at
    assert now["B"].pk == first["B"].pk
    assert now["B"].deleted_at is not None  # gone for real: tombstoned
    assert now["G"].deleted_at is None  # another scope: untouched
    assert set(live_items(integration).values_list("title", flat=True)) == {"A", "New", "G"}
    assert (job.created, job.updated, job.deleted) == (1, 1, 2)
