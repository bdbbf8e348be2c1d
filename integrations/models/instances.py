"""Integration: one user's configured instance of a blueprint."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone

from integrations.models.catalogue import default_sync_interval


class Status(models.TextChoices):
    PENDING = "pending", "Pending"
    CONNECTED = "connected", "Connected"
    SYNCING = "syncing", "Syncing"
    ERROR = "error", "Error"
    NEEDS_REAUTH = "needs_reauth", "Needs re-auth"
    PAUSED = "paused", "Paused"
    DISCONNECTED = "disconnected", "Disconnected"


# Statuses in which scheduled work (syncs, workflow runs) must not touch the integration.
INACTIVE_STATUSES = (Status.NEEDS_REAUTH, Status.PAUSED, Status.DISCONNECTED)
# After this many failed syncs in a row the user gets a "keeps failing" notification.
FAILING_AFTER = 3


class IntegrationQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(user=user) if user.is_authenticated else self.none()

    def active(self):
        return self.exclude(status__in=INACTIVE_STATUSES)

    def needing_attention(self):
        return self.filter(Q(status=Status.NEEDS_REAUTH) | Q(consecutive_failures__gte=FAILING_AFTER)).exclude(
            status__in=[Status.DISCONNECTED, Status.PAUSED]
        )


class Integration(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="integrations")
    type = models.ForeignKey("integrations.IntegrationType", on_delete=models.PROTECT, related_name="integrations")
    name = models.CharField(max_length=100, help_text="Your label, to tell several of one type apart.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    status_detail = models.CharField(max_length=500, blank=True, help_text="What the user should do, if anything.")
    # While paused: what resume returns to, so a pause never silently clears "needs re-auth".
    status_before_pause = models.CharField(max_length=16, choices=Status.choices, blank=True)
    status_detail_before_pause = models.CharField(max_length=500, blank=True)
    config = models.JSONField(default=dict, blank=True, help_text="Non-secret settings; secrets are encrypted apart.")
    account_identity = models.CharField(max_length=255, blank=True, help_text="e.g. the mailbox address")
    sync_interval_minutes = models.PositiveIntegerField(
        default=default_sync_interval, validators=[MinValueValidator(1), MaxValueValidator(7 * 24 * 60)]
    )
    sync_cursor = models.JSONField(null=True, blank=True, help_text="Where the next incremental sync starts.")
    last_synced_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    # Live (not tombstoned) synced items, kept by the sync engine with F() in the same transaction
    # as the rows (integrations.counts): lists read it instead of counting over the items table.
    # `manage.py recount_items` rebuilds it.
    item_count = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = IntegrationQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                F("user"),
                F("type"),
                Lower("name"),
                name="unique_integration_name_per_user_and_type",
                violation_error_message="You already have an integration of this type with that name.",
            ),
            models.CheckConstraint(condition=Q(status__in=Status.values), name="integration_status_valid"),
        ]
        indexes = [
            models.Index(fields=["user", "status"]),
            models.Index(fields=["status", "last_synced_at"]),
        ]

    def __str__(self):
        return f"{self.name} ({self.type.display_name})"

    def save(self, *args, **kwargs):
        # item_count is written only as F() increments next to the rows (integrations.counts): a
        # full save of an instance loaded before a sync stored a batch must not put back its stale
        # value, so saving an existing row writes every other loaded field.
        if (
            self.pk is not None
            and not self._state.adding
            and kwargs.get("update_fields") is None
            and not kwargs.get("force_insert")
        ):
            deferred = self.get_deferred_fields()
            kwargs["update_fields"] = [
                f.name
                for f in self._meta.concrete_fields
                if not f.primary_key and f.name != "item_count" and f.attname not in deferred
            ]
        super().save(*args, **kwargs)

    def get_absolute_url(self):
        return reverse("integrations:detail", args=[self.pk])

    @property
    def is_active(self) -> bool:
        return self.status not in INACTIVE_STATUSES

    @property
    def is_failing(self) -> bool:
        return self.consecutive_failures >= FAILING_AFTER

    @property
    def needs_attention(self) -> bool:
        return self.status == Status.NEEDS_REAUTH or (self.is_failing and self.is_active)

    def set_status(self, status, detail="", *, save=True):
        self.status, self.status_detail = status, detail[:500]
        if save:
            self.save(update_fields=["status", "status_detail", "updated_at"])

    def record_failure(self, message: str, *, counts: bool = True):
        """`counts`: whether it extends the failure streak (notifications, sync_due's backoff)."""
        self.last_error, self.last_error_at = message, timezone.now()
        fields = ["last_error", "last_error_at", "updated_at"]
        if counts:
            self.consecutive_failures = F("consecutive_failures") + 1
            fields.append("consecutive_failures")
        self.save(update_fields=fields)
        if counts:
            self.refresh_from_db(fields=["consecutive_failures"])
