"""SyncedItem: a normalized record brought in by a sync, with where it came from."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class SyncedItemQuerySet(models.QuerySet):
    def live(self):
        return self.filter(deleted_at__isnull=True)

    def for_user(self, user):
        return self.filter(user=user) if user.is_authenticated else self.none()


class SyncedItem(models.Model):
    # The owner is kept apart from the integration: deleting an integration may keep its data
    # (the user chooses), and deleting the user always removes it.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="synced_items")
    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.SET_NULL, null=True, blank=True, related_name="items"
    )
    kind = models.CharField(max_length=32, help_text="event, message, feed_item, track, photo, ...")
    external_id = models.CharField(max_length=512, help_text="The provider's own id of the record")
    version = models.CharField(max_length=255, blank=True, help_text="Provider version: ETag, MODSEQ, ...")
    occurred_at = models.DateTimeField(null=True, blank=True)
    title = models.CharField(max_length=500, blank=True)
    summary = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    content_hash = models.CharField(max_length=64)

    # Provenance: enough to say where a record came from even after its integration is gone.
    source_type = models.CharField(max_length=64, help_text="Integration type slug")
    source_name = models.CharField(max_length=100, blank=True, help_text="Integration name when fetched")
    source_url = models.URLField(max_length=2000, blank=True)
    fetched_at = models.DateTimeField()
    first_seen_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_job = models.ForeignKey("integrations.SyncJob", on_delete=models.SET_NULL, null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True, help_text="Tombstone: gone at the source")
    match_key = models.CharField(
        max_length=512, blank=True, default="", help_text="Survives an id change (IMAP: folder + Message-ID)"
    )

    objects = SyncedItemQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "external_id"],
                condition=Q(integration__isnull=False),
                name="unique_item_per_integration",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "-occurred_at"]),
            models.Index(fields=["integration", "-occurred_at"]),
            models.Index(fields=["integration", "kind"]),
            # Reviving a tombstoned record by its match key (Batch.reset_prefix); most rows have none.
            models.Index(fields=["integration", "match_key"], condition=~Q(match_key=""), name="synceditem_match_key"),
        ]

    def __str__(self):
        return self.title or self.external_id

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None
