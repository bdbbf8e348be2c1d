"""UserPreferences: what a person chose for how the hub shows things to them (their time zone)."""

from django.conf import settings
from django.db import models


class UserPreferences(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preferences")
    # An IANA name ("Europe/Zurich"); empty: the hub's own TIME_ZONE. Checked against zoneinfo on
    # every write (integrations.timezones.valid_zone), never trusted from the browser as is.
    time_zone = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name = "user preferences"
        verbose_name_plural = "user preferences"

    def __str__(self):
        return f"Preferences of {self.user}"
