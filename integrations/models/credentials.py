"""Secrets, stored apart from configuration and encrypted at rest with FERNET_KEYS."""

from django.db import models

from integrations.fields import EncryptedJSONField, SecretTextField


class Credential(models.Model):
    """The secrets of one integration: form secrets (passwords, API keys) and OAuth tokens.

    Nothing here is ever rendered, serialized, logged or returned by the API. Reading it from a
    background task goes through `integrations.secrets.credentials_for`, which audits the access.
    """

    integration = models.OneToOneField("integrations.Integration", on_delete=models.CASCADE, related_name="credential")
    secrets = EncryptedJSONField(default=dict, blank=True)
    access_token = SecretTextField(null=True, blank=True)
    refresh_token = SecretTextField(null=True, blank=True)
    token_type = models.CharField(max_length=32, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    granted_scopes = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["expires_at"])]

    def __str__(self):
        return f"Credentials of integration {self.integration_id}"

    def __repr__(self):
        # The default repr would not show secrets either, but be explicit: never.
        return f"<Credential integration={self.integration_id}>"

    @property
    def has_tokens(self) -> bool:
        return bool(self.access_token)
