"""Workflows: sources make content cards, outputs deliver them.

Each step keeps its own config, validated against its integration type's schema, in a JSON
column: no wide model with a nullable column per step type.
"""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone


class Workflow(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="workflows")
    name = models.CharField(max_length=120)
    description = models.CharField(max_length=300, blank=True)
    is_active = models.BooleanField(default=True)
    schedule = models.CharField(max_length=100, blank=True, help_text="Cron expression; empty = run on demand only")
    needs_attention = models.BooleanField(default=False)
    attention_reason = models.CharField(max_length=500, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(F("owner"), Lower("name"), name="unique_workflow_name_per_owner"),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("workflows:detail", args=[self.pk])


class WorkflowSource(models.Model):
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="sources")
    # SET_NULL, not CASCADE: a deleted integration leaves a visible gap that flags the workflow.
    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.SET_NULL, null=True, related_name="workflow_sources"
    )
    # The step kind (workflows.steps) decides the schema `config` is validated against. It is fixed
    # when the step is created, so a connector gaining a capability never reinterprets old config.
    kind = models.CharField(max_length=20, default="synced_items")
    title = models.CharField(max_length=120, blank=True, help_text="Card title; empty = the integration's name")
    one_card_per_item = models.BooleanField(default=False)
    config = models.JSONField(default=dict, blank=True)
    tags = models.JSONField(default=list, blank=True)
    state = models.JSONField(default=dict, blank=True, help_text="Step memory, e.g. what the last run already saw")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "pk"]

    def __str__(self):
        return f"{self.integration or 'deleted integration'} -> {self.workflow}"


class Bundle(models.TextChoices):
    DIGEST = "digest", "One message with all the cards"
    EACH = "each", "One message per card"


class TemplateFormat(models.TextChoices):
    MARKDOWN = "markdown", "Markdown"
    HTML = "html", "HTML (autoescaped)"


class WorkflowOutput(models.Model):
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="outputs")
    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.SET_NULL, null=True, related_name="workflow_outputs"
    )
    card_filter = models.JSONField(default=dict, blank=True, help_text='e.g. {"tags": ["news"], "sources": [3]}')
    bundle = models.CharField(max_length=8, choices=Bundle.choices, default=Bundle.DIGEST)
    template_format = models.CharField(max_length=8, choices=TemplateFormat.choices, default=TemplateFormat.MARKDOWN)
    title = models.CharField(max_length=300, blank=True, help_text="Jinja2 (sandboxed); empty = the default title")
    template = models.TextField(blank=True, help_text="Jinja2 (sandboxed); empty = the default digest layout")
    config = models.JSONField(default=dict, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "pk"]

    def __str__(self):
        return f"{self.workflow} -> {self.integration or 'deleted integration'}"


class ExecutionStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCESS = "success", "Success"
    PARTIAL = "partial", "Partial"
    FAILURE = "failure", "Failure"


ACTIVE_EXECUTION_STATUSES = (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING)


def stale_after() -> timedelta:
    return timedelta(seconds=settings.WORKFLOW_STALE_AFTER)


class Execution(models.Model):
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="executions")
    status = models.CharField(max_length=8, choices=ExecutionStatus.choices, default=ExecutionStatus.RUNNING)
    trigger = models.CharField(max_length=10, default="manual")
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    cards_made = models.PositiveIntegerField(default=0)
    cards_sent = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    steps = models.JSONField(default=list, blank=True, help_text="What each source and output did")

    class Meta:
        ordering = ["-started_at", "-pk"]
        indexes = [models.Index(fields=["workflow", "-started_at"])]
        constraints = [
            # One queued-or-running execution per workflow: a schedule firing during "Run now"
            # cannot deliver the same cards twice (a partial unique index, PostgreSQL and SQLite).
            models.UniqueConstraint(
                fields=["workflow"],
                condition=Q(status__in=ACTIVE_EXECUTION_STATUSES),
                name="one_active_execution_per_workflow",
            ),
        ]

    def __str__(self):
        return f"{self.workflow} run #{self.pk} ({self.status})"

    def get_absolute_url(self):
        return reverse("workflows:execution", args=[self.workflow_id, self.pk])

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_EXECUTION_STATUSES

    @property
    def waiting_long(self) -> bool:
        """Queued for more than half a minute: probably no worker is running."""
        return self.status == ExecutionStatus.QUEUED and self.started_at < timezone.now() - timedelta(seconds=30)

    @property
    def is_stale(self) -> bool:
        """Queued or running for longer than a worker may take: its worker is gone."""
        return self.is_active and self.started_at < timezone.now() - stale_after()


class Card(models.Model):
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="cards")
    execution = models.ForeignKey(Execution, on_delete=models.SET_NULL, null=True, blank=True, related_name="cards")
    source = models.ForeignKey(WorkflowSource, on_delete=models.SET_NULL, null=True, blank=True, related_name="cards")
    source_label = models.CharField(max_length=200, blank=True, help_text="Where it came from, kept after edits")
    title = models.CharField(max_length=300)
    data = models.JSONField(default=dict, blank=True)
    content = models.TextField(blank=True, help_text="Markdown")
    request = models.JSONField(default=dict, blank=True, help_text="What produced it, so it can be refreshed")
    tags = models.JSONField(default=list, blank=True)
    is_partial = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["workflow", "-created_at"])]

    def __str__(self):
        return self.title


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class CardDelivery(models.Model):
    """The delivery ledger: one row per card and output that should deliver it.

    Rows are written in the same transaction as the cards and the sources' "seen until" memory, so
    a card an output has not taken is never forgotten: it stays pending and every later run (Run
    now included) delivers it, under the same idempotency key, until the output takes it or
    definitively refuses it (failed, retried only when the user asks)."""

    output = models.ForeignKey(WorkflowOutput, on_delete=models.CASCADE, related_name="deliveries")
    card = models.ForeignKey(Card, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=8, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    key = models.CharField(max_length=200, blank=True, help_text="Idempotency key of the message that carries it")
    external_id = models.CharField(max_length=300, blank=True, help_text="The receiver's id for it, when known")
    error_class = models.CharField(max_length=20, blank=True)
    last_error = models.CharField(max_length=1000, blank=True)
    not_before = models.DateTimeField(null=True, blank=True, help_text="The receiver asked us to wait until then")
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "card deliveries"
        ordering = ["card_id", "output_id"]
        constraints = [
            models.UniqueConstraint(fields=["output", "card"], name="one_delivery_per_card_and_output"),
        ]
        indexes = [models.Index(fields=["output", "status"])]

    def __str__(self):
        return f"{self.card} -> {self.output} ({self.status})"

    @property
    def is_waiting(self) -> bool:
        waits = self.not_before is not None and self.not_before > timezone.now()
        return self.status == DeliveryStatus.PENDING and waits
