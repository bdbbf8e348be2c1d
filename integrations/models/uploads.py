"""Upload: one archive file a person sends to the hub in chunks, to import into an integration.

The bytes live in MEDIA_ROOT/uploads/<user id>/<upload id>/<file name> (integrations/uploads/),
never under a URL. `offset` is the number of bytes stored so far: a reloaded page or an API client
asks for it and sends the rest. The SHA-256 is computed as the chunks arrive (see
integrations/uploads/receive.py for how it survives a change of web process).
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class UploadStatus(models.TextChoices):
    UPLOADING = "uploading", "Uploading"
    COMPLETE = "complete", "Uploaded"
    REJECTED = "rejected", "Not the right export"
    IMPORTING = "importing", "Importing"
    IMPORTED = "imported", "Imported"
    EXPIRED = "expired", "Expired"


# Uploads whose bytes are still wanted: they count against the person's caps and are swept when stale.
PENDING_UPLOAD_STATUSES = (UploadStatus.UPLOADING, UploadStatus.COMPLETE)


class UploadQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(user=user) if user.is_authenticated else self.none()


class Upload(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="uploads")
    type = models.ForeignKey("integrations.IntegrationType", on_delete=models.CASCADE, related_name="uploads")
    # None while a new integration of an archive type is being set up; set when its import starts.
    integration = models.ForeignKey(
        "integrations.Integration", null=True, blank=True, on_delete=models.CASCADE, related_name="uploads"
    )
    filename = models.CharField(max_length=255, help_text="The file's name as stored (made safe)")
    size = models.BigIntegerField(help_text="Bytes announced when the upload was created")
    # What the client says identifies the file (e.g. its modification time): creating the same
    # upload again (same name, size and fingerprint) resumes the unfinished one.
    fingerprint = models.CharField(max_length=100, blank=True)
    offset = models.BigIntegerField(default=0, help_text="Bytes stored so far")
    sha256 = models.CharField(max_length=64, blank=True, help_text="Of the whole file, once complete")
    status = models.CharField(max_length=10, choices=UploadStatus.choices, default=UploadStatus.UPLOADING)
    detail = models.CharField(max_length=1000, blank=True, help_text="What the file was recognised as, or why not")
    keep_archive = models.BooleanField(default=False, help_text="Keep the file after a successful import")
    job = models.ForeignKey(
        "integrations.SyncJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="uploads"
    )
    # A chunk being written holds this lease (conditional UPDATE), so two requests never write at once.
    receiving_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    expires_at = models.DateTimeField(help_text="An unfinished or unimported upload is deleted then")

    objects = UploadQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=UploadStatus.values), name="upload_status_valid"),
            models.CheckConstraint(
                condition=Q(offset__gte=0) & Q(offset__lte=models.F("size")), name="upload_offset_in_size"
            ),
        ]
        indexes = [models.Index(fields=["user", "status"]), models.Index(fields=["status", "expires_at"])]

    def __str__(self):
        return f"{self.filename} ({self.get_status_display()})"

    @property
    def percent(self) -> int:
        return 100 if not self.size else int(100 * self.offset / self.size)

    @property
    def is_complete(self) -> bool:
        return self.offset == self.size
