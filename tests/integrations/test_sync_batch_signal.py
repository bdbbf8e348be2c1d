"""integrations.signals.batch_stored tells a receiver (the coming personal-data layer) which rows
each stored batch created, updated and tombstoned, inside the batch's own transaction."""

import pytest
from django.db import connection

from integrations.models import SyncedItem
from integrations.signals import batch_stored
from tests.connectors.helpers import sync
from tests.factories import make_integration
from tests.integrations.scripted import make_scripted_type


@pytest.fixture
def received():
    calls = []

    def receiver(sender, integration, job, created_ids, updated_ids, deleted_ids, **kwargs):
        calls.append(
            dict(
                integration=integration.pk,
                job=job.pk,
                created=sorted(created_ids),
                updated=sorted(updated_ids),
                deleted=sorted(deleted_ids),
                in_transaction=connection.in_atomic_block,
                stored=set(SyncedItem.objects.filter(pk__in=created_ids).values_list("external_id", flat=True)),
            )
        )

    batch_stored.connect(receiver)
    yield calls
    batch_stored.disconnect(receiver)


def pk(integration, external_id):
    return SyncedItem.objects.get(integration=integration, external_id=external_id).pk


def test_each_stored_batch_reports_created_updated_and_deleted_rows(owner, received):
    first = {"batches": [{"items": [["a", "A"], ["b", "B"]]}, {"items": [["c", "C"]]}]}
    integration = make_integration(owner, make_scripted_type(), config=first)
    job = sync(integration)

    assert [call["stored"] for call in received] == [{"a", "b"}, {"c"}]
    assert received[0]["created"] == sorted([pk(integration, "a"), pk(integration, "b")])
    assert received[1]["created"] == [pk(integration, "c")]
    assert all(call["job"] == job.pk and call["integration"] == integration.pk for call in received)
    assert all(call["in_transaction"] for call in received)

    received.clear()
    integration.config = {"batches": [{"items": [["a", "A"], ["b", "B, edited"]], "deletes": ["c"]}]}
    integration.save(update_fields=["config"])
    job = sync(integration, kind="full")

    (call,) = received
    assert (call["job"], call["created"]) == (job.pk, [])
    assert call["updated"] == [pk(integration, "b")]  # "a" is unchanged: not reported
    assert call["deleted"] == [pk(integration, "c")]


def test_a_batch_that_changes_nothing_sends_nothing(owner, received):
    integration = make_integration(owner, make_scripted_type(), config={"batches": [{"items": [["a", "A"]]}]})
    sync(integration)
    received.clear()
    sync(integration, kind="full")
    assert received == []
