"""Integration.item_count is the exact number of live (not tombstoned) synced items, kept by every
path that creates, updates, tombstones, revives or deletes them; recount_items rebuilds it."""

import io

import pytest
from django.apps import apps
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from integrations.models import Integration, SyncedItem
from integrations.oauth.flow import retire_account
from tests.connectors.helpers import sync
from tests.factories import make_integration, make_user
from tests.integrations.scripted import make_scripted_type


def actual(integration) -> int:
    return SyncedItem.objects.filter(integration=integration, deleted_at__isnull=True).count()


def counted(integration) -> int:
    return Integration.objects.values_list("item_count", flat=True).get(pk=integration.pk)


def resync(integration, *batches):
    integration.config = {"batches": list(batches)}
    integration.save(update_fields=["config"])
    return sync(integration, kind="full")


@pytest.fixture
def scripted(owner):
    return make_integration(owner, make_scripted_type())


def test_create_update_unchanged_tombstone_and_revive_keep_the_count_exact(scripted):
    resync(scripted, {"items": [["a", "A"], ["b", "B"], ["c", "C"], ["c", "C twice"]]})
    assert counted(scripted) == actual(scripted) == 3

    resync(scripted, {"items": [["a", "A changed"], ["b", "B"]]})  # an update and an unchanged one
    assert counted(scripted) == actual(scripted) == 3

    resync(scripted, {"deletes": ["a", "b", "missing"]}, {"deletes": ["a"]})  # twice: counted once
    assert counted(scripted) == actual(scripted) == 1

    # "a" comes back under its own id (revived in place), "d" is new, then "d" is deleted again
    # in the same batch that brought "b" back.
    resync(scripted, {"items": [["a", "A again"], ["d", "D"]]}, {"items": [["b", "B again"]], "deletes": ["d"]})
    assert counted(scripted) == actual(scripted) == 3
    live = SyncedItem.objects.filter(integration=scripted, deleted_at=None)
    assert set(live.values_list("external_id", flat=True)) == {"a", "b", "c"}


def test_reset_prefix_tombstones_and_revivals_by_match_key_are_counted(scripted):
    resync(scripted, {"items": [["f/1/10", "A", "f/<a@x>"], ["f/1/11", "B", "f/<b@x>"], ["g/1/5", "G", "g/<g@x>"]]})
    assert counted(scripted) == 3
    # Folder f's ids change: A comes back under a new id (revived), B is gone, New is new.
    job = resync(
        scripted,
        {"reset_prefix": "f/"},
        {"items": [["f/2/1", "A", "f/<a@x>"], ["f/2/2", "New", "f/<n@x>"]]},
    )
    assert (job.created, job.updated, job.deleted) == (1, 1, 2)
    assert counted(scripted) == actual(scripted) == 3
    # A reset whose batch sends some of the same ids again: tombstoned then stored again at once.
    resync(scripted, {"reset_prefix": "f/", "items": [["f/2/1", "A", "f/<a@x>"], ["f/2/9", "Z", "f/<z@x>"]]})
    assert counted(scripted) == actual(scripted) == 3  # A, Z and G: New is gone


def test_each_integration_counts_only_its_own_items(owner):
    itype = make_scripted_type()
    one = make_integration(owner, itype, name="One")
    two = make_integration(make_user("two@example.com"), itype, name="Two")
    resync(one, {"items": [["x", "X"], ["y", "Y"]]})
    resync(two, {"items": [["x", "X"]]})
    assert (counted(one), counted(two)) == (2, 1)


def test_a_full_save_of_an_instance_loaded_before_a_sync_keeps_the_new_count(scripted):
    stale = Integration.objects.get(pk=scripted.pk)
    resync(scripted, {"items": [["a", "A"], ["b", "B"]]})
    stale.name = "Renamed"
    stale.save()  # a form's save with the item_count it loaded (0)
    assert counted(scripted) == 2
    assert Integration.objects.get(pk=scripted.pk).name == "Renamed"


def test_switching_account_retires_the_records_and_the_count(scripted):
    resync(scripted, {"items": [["a", "A"], ["b", "B"]]})
    assert retire_account(scripted, "new@example.com") == 2
    assert counted(scripted) == actual(scripted) == 0


def test_deleting_items_in_the_admin_recounts(client, scripted):
    resync(scripted, {"items": [["a", "A"], ["b", "B"], ["c", "C"]]}, {"deletes": ["c"]})
    client.force_login(make_user("staff@example.com", is_staff=True, is_superuser=True))
    a, b, c = (SyncedItem.objects.get(integration=scripted, external_id=x) for x in "abc")
    response = client.post(reverse("admin:integrations_synceditem_delete", args=[a.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert counted(scripted) == actual(scripted) == 1
    response = client.post(
        reverse("admin:integrations_synceditem_changelist"),
        {"action": "delete_selected", "_selected_action": [b.pk, c.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert counted(scripted) == actual(scripted) == 0
    assert not SyncedItem.objects.filter(integration=scripted).exists()


def test_recount_items_rebuilds_wrong_counts(owner, scripted):
    resync(scripted, {"items": [["a", "A"], ["b", "B"]]})
    other = make_integration(owner, make_scripted_type(), name="Empty")
    Integration.objects.filter(pk=scripted.pk).update(item_count=40)
    Integration.objects.filter(pk=other.pk).update(item_count=7)
    out = io.StringIO()
    call_command("recount_items", stdout=out)
    assert "2 were off" in out.getvalue()
    assert (counted(scripted), counted(other)) == (2, 0)


def test_the_admin_action_recounts(client, scripted):
    resync(scripted, {"items": [["a", "A"]]})
    Integration.objects.filter(pk=scripted.pk).update(item_count=9)
    client.force_login(make_user("staff@example.com", is_staff=True, is_superuser=True))
    client.post(
        reverse("admin:integrations_integration_changelist"),
        {"action": "recount_items", "_selected_action": [scripted.pk]},
    )
    assert counted(scripted) == 1


def test_the_migration_fills_the_counts_of_existing_integrations(scripted):
    resync(scripted, {"items": [["a", "A"], ["b", "B"], ["c", "C"]]}, {"deletes": ["b"]})
    SyncedItem.objects.filter(integration=scripted, external_id="c").update(deleted_at=timezone.now())
    Integration.objects.update(item_count=0)
    migration = __import__("integrations.migrations.0014_item_count", fromlist=["fill"])
    migration.fill(apps, None)
    assert counted(scripted) == actual(scripted) == 1
