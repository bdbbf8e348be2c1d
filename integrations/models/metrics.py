"""Outbound request metrics and the database-backed rate-limit window."""

from django.db import models


class RequestStat(models.Model):
    """Requests one integration made during one hour: the sync monitor's health chart."""

    integration = models.ForeignKey("integrations.Integration", on_delete=models.CASCADE, related_name="request_stats")
    hour = models.DateTimeField()
    requests = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    rate_limited = models.PositiveIntegerField(default=0)
    total_ms = models.PositiveBigIntegerField(default=0)
    last_success_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-hour"]
        constraints = [models.UniqueConstraint(fields=["integration", "hour"], name="one_stat_row_per_hour")]

    def __str__(self):
        return f"{self.integration_id} @ {self.hour:%Y-%m-%d %H}:00: {self.requests} requests"

    @property
    def average_ms(self) -> float:
        return self.total_ms / self.requests if self.requests else 0.0


class RateLimitBucket(models.Model):
    """One row per limited key: locking it serializes the workers that share the window."""

    key = models.CharField(max_length=200, unique=True)
    touched_at = models.DateTimeField(null=True)

    def __str__(self):
        return self.key


class RateLimitHit(models.Model):
    bucket = models.ForeignKey(RateLimitBucket, on_delete=models.CASCADE, related_name="hits")
    at = models.FloatField(help_text="Unix time of the request")

    class Meta:
        indexes = [models.Index(fields=["bucket", "at"])]

    def __str__(self):
        return f"{self.bucket_id} @ {self.at:.3f}"
