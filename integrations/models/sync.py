"""SyncJob: one run of the sync engine for one integration, with live progress and counts."""

from django.db import models
from django.db.models import Q
from django.urls import reverse


class JobKind(models.TextChoices):
    FULL = "full", "Full"
    INCREMENTAL = "incremental", "Incremental"
    BACKFILL = "backfill", "Backfill"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    PARTIAL = "partial", "Partial"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_JOB_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)
COUNT_FIELDS = ("seen", "created", "updated", "unchanged", "deleted", "failed")


class JobTrigger(models.TextChoices):
    MANUAL = "manual", "Sync now"
    SCHEDULE = "schedule", "Schedule"
    COMMAND = "command", "Management command"
    API = "api", "API"
    ADMIN = "admin", "Admin"
    WORKFLOW = "workflow", "Workflow run"
    UPLOAD = "upload", "Uploaded export"
    WEBHOOK = "webhook", "Provider webhook"


class SyncJob(models.Model):
    integration = models.ForeignKey("integrations.Integration", on_delete=models.CASCADE, related_name="sync_jobs")
    kind = models.CharField(max_length=12, choices=JobKind.choices, default=JobKind.INCREMENTAL)
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    trigger = models.CharField(max_length=10, choices=JobTrigger.choices, default=JobTrigger.MANUAL)
    options = models.JSONField(default=dict, blank=True, help_text="e.g. {'since': '2024-01-01'} for a backfill")

    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    not_before = models.DateTimeField(
        null=True, blank=True, help_text="Held until then: the provider asked us to wait (Retry-After)"
    )
    worker = models.CharField(max_length=200, blank=True, help_text="host:pid of the worker running it")
    attempts = models.PositiveIntegerField(default=0, help_text="Times a worker started or took it over")

    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(null=True, blank=True)
    seen = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    deleted = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)

    cursor_before = models.JSONField(null=True, blank=True)
    cursor_after = models.JSONField(null=True, blank=True, help_text="Checkpoint, saved with every committed batch")
    error_class = models.CharField(max_length=16, blank=True)
    error_message = models.TextField(blank=True)
    remediation = models.TextField(blank=True)
    item_errors = models.JSONField(default=list, blank=True, help_text="Records that could not be imported")
    unmapped_fields = models.JSONField(default=list, blank=True, help_text="Source fields kept only in data")

    class Meta:
        ordering = ["-queued_at", "-pk"]
        constraints = [
            # Exactly one queued-or-running job per integration, whatever the number of workers:
            # enforced by a partial unique index on PostgreSQL and SQLite alike.
            models.UniqueConstraint(
                fields=["integration"],
                condition=Q(status__in=ACTIVE_JOB_STATUSES),
                name="one_active_sync_job_per_integration",
            ),
            models.CheckConstraint(condition=Q(status__in=JobStatus.values), name="syncjob_status_valid"),
        ]
        indexes = [
            models.Index(fields=["integration", "-queued_at"]),
            models.Index(fields=["status", "heartbeat_at"]),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} sync #{self.pk} of {self.integration_id} ({self.status})"

    def get_absolute_url(self):
        return reverse("integrations:job", args=[self.integration_id, self.pk])

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_JOB_STATUSES

    @property
    def percent(self) -> int | None:
        if self.status in (JobStatus.SUCCEEDED, JobStatus.PARTIAL):
            return 100
        if not self.progress_total:
            return None
        return min(100, int(100 * self.progress_done / self.progress_total))

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None

    @property
    def counts(self) -> dict:
        return {name: getattr(self, name) for name in COUNT_FIELDS}
