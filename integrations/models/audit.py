"""AuditEvent: who did what to an integration or its secrets. Details never hold secrets."""

from django.conf import settings
from django.db import models


class AuditAction(models.TextChoices):
    CONNECT = "connect", "Connected"
    EDIT = "edit", "Edited"
    REAUTH = "reauth", "Re-authenticated"
    DISCONNECT = "disconnect", "Disconnected"
    DELETE = "delete", "Deleted"
    PAUSE = "pause", "Paused"
    RESUME = "resume", "Resumed"
    CREDENTIAL_ACCESS = "credential_access", "Credentials read by a task"
    TOKEN_REFRESH = "token_refresh", "Token refreshed"
    KEY_ROTATION = "key_rotation", "Encryption keys rotated"
    SYNC_QUEUED = "sync_queued", "Sync queued"
    AUTH_FAILED = "auth_failed", "Authentication failed"


class Actor(models.TextChoices):
    USER = "user", "User"
    STAFF = "staff", "Staff"
    TASK = "task", "Background task"
    SYSTEM = "system", "System"


class AuditEvent(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="audit_events"
    )
    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.SET_NULL, null=True, blank=True, related_name="audit_events"
    )
    integration_label = models.CharField(max_length=200, blank=True, help_text="Kept after the integration is gone")
    action = models.CharField(max_length=20, choices=AuditAction.choices)
    actor = models.CharField(max_length=8, choices=Actor.choices, default=Actor.USER)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["integration", "-created_at"]), models.Index(fields=["action"])]

    def __str__(self):
        return f"{self.get_action_display()} {self.integration_label} by {self.actor}"

    @classmethod
    def record(cls, action, *, integration=None, user=None, actor=Actor.USER, **detail):
        return cls.objects.create(
            action=action,
            integration=integration,
            integration_label=str(integration) if integration else "",
            user=user or (integration.user if integration else None),
            actor=actor,
            detail=detail,
        )
