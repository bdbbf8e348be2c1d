"""OAuth client registrations per integration type, editable by staff (the secret encrypted).

Environment variables OAUTH_<SLUG>_CLIENT_ID / OAUTH_<SLUG>_CLIENT_SECRET (slug upper-cased,
dashes as underscores) take precedence over this record."""

from django.db import models

from integrations.fields import SecretTextField


class OAuthApp(models.Model):
    integration_type = models.OneToOneField(
        "integrations.IntegrationType", on_delete=models.CASCADE, related_name="oauth_app"
    )
    client_id = models.CharField(max_length=255)
    client_secret = SecretTextField(blank=True, help_text="Stored encrypted; never displayed again.")
    authorize_url = models.URLField(blank=True, help_text="Override of the type's authorize URL (e.g. a tenant)")
    token_url = models.URLField(blank=True, help_text="Override of the type's token URL")
    revoke_url = models.URLField(blank=True, help_text="Override of the type's revocation URL")
    api_base_url = models.URLField(blank=True, help_text="Override of the provider API base (tests, sovereign clouds)")
    is_enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "OAuth app"

    def __str__(self):
        return f"OAuth app for {self.integration_type}"
