"""Real database constraints and cascades (they hold on SQLite and PostgreSQL alike)."""

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from integrations import lifecycle
from integrations.models import AuditEvent, Credential, Integration, JobStatus, SyncedItem, SyncJob
from tests.factories import make_integration, make_type


def _item(integration, external_id="a", **fields):
    return SyncedItem.objects.create(
        user=integration.user,
        integration=integration,
        kind="event",
        external_id=external_id,
        content_hash="0" * 64,
        source_type=integration.type.slug,
        fetched_at=timezone.now(),
        **fields,
    )


def test_integration_names_are_unique_per_user_and_type_ignoring_case(owner, other_user):
    itype = make_type()
    make_integration(owner, itype, name="Work")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_integration(owner, itype, name="work")
    make_integration(other_user, itype, name="Work")  # another user may reuse the name
    make_integration(owner, make_type("other-type"), name="Work")  # and so may another type


def test_only_one_queued_or_running_job_per_integration(owner):
    integration = make_integration(owner)
    SyncJob.objects.create(integration=integration, status=JobStatus.RUNNING)
    with pytest.raises(IntegrityError), transaction.atomic():
        SyncJob.objects.create(integration=integration, status=JobStatus.QUEUED)
    # Finished jobs do not count.
    SyncJob.objects.create(integration=integration, status=JobStatus.SUCCEEDED)
    SyncJob.objects.create(integration=integration, status=JobStatus.FAILED)


def test_items_are_unique_per_integration_and_external_id(owner):
    first, second = make_integration(owner, name="A"), make_integration(owner, name="B")
    _item(first, "same-id")
    _item(second, "same-id")
    with pytest.raises(IntegrityError), transaction.atomic():
        _item(first, "same-id")


def test_available_type_needs_a_handler(db):
    with pytest.raises(IntegrityError), transaction.atomic():
        make_type("broken", is_available=True, handler="")


def test_types_in_use_cannot_be_deleted(owner):
    integration = make_integration(owner)
    from django.db.models import ProtectedError

    with pytest.raises(ProtectedError):
        integration.type.delete()


def test_deleting_a_user_removes_their_integrations_secrets_jobs_and_data(owner, other_user):
    mine = make_integration(owner, secrets={"password": "hunter2"})
    theirs = make_integration(other_user, secrets={"password": "other"})
    SyncJob.objects.create(integration=mine, status=JobStatus.SUCCEEDED)
    _item(mine)
    _item(theirs)
    AuditEvent.record("connect", integration=mine)

    owner.delete()

    assert not Integration.objects.filter(pk=mine.pk).exists()
    assert not Credential.objects.filter(integration_id=mine.pk).exists()
    assert not SyncJob.objects.filter(integration_id=mine.pk).exists()
    assert not SyncedItem.objects.filter(user_id=owner.pk).exists()
    assert not AuditEvent.objects.filter(user_id=owner.pk).exists()
    assert Credential.objects.filter(integration=theirs).exists()
    assert SyncedItem.objects.filter(user=other_user).count() == 1


def test_deleting_an_integration_keeps_its_data_unless_asked(owner):
    kept = make_integration(owner, name="Kept", secrets={"password": "x"})
    dropped = make_integration(owner, name="Dropped")
    item = _item(kept, "keep-me")
    _item(dropped, "drop-me")

    lifecycle.delete(kept, delete_data=False)
    lifecycle.delete(dropped, delete_data=True)

    item.refresh_from_db()
    assert item.integration is None  # provenance stays on the row itself
    assert item.source_type == kept.type.slug
    assert not SyncedItem.objects.filter(external_id="drop-me").exists()
    assert not Credential.objects.exists()


def test_disconnect_drops_credentials_and_keeps_data(owner):
    integration = make_integration(owner, secrets={"password": "x"})
    _item(integration)
    lifecycle.disconnect(integration)
    integration.refresh_from_db()
    assert integration.status == "disconnected"
    assert not Credential.objects.filter(integration=integration).exists()
    assert integration.items.count() == 1


def test_integrations_paused_before_the_upgrade_resume_as_what_they_can_be(owner):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("integrations.migrations.0006_pause_memory_and_encrypted_webhook_headers")
    working = make_integration(owner, name="Working", secrets={"password": "x"}, status="paused")
    dropped = make_integration(owner, name="Credentials gone", status="paused")  # paused after a disconnect

    migration.remember_status_of_paused(apps, None)

    assert lifecycle.resume(Integration.objects.get(pk=working.pk)) == "connected"
    assert lifecycle.resume(Integration.objects.get(pk=dropped.pk)) == "disconnected"
    dropped.refresh_from_db()
    assert dropped.status_detail == "Disconnected: credentials removed; synced data kept."
