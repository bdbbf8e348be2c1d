"""Secrets, stored apart from configuration and encrypted at rest with FERNET_KEYS."""

from django.db import models

from integrations.fields import EncryptedJSONField, SecretTextField
from integrations.oauth.scopes import not_granted


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
    # The short-lived lease a worker takes before refreshing the tokens (integrations.oauth.tokens):
    # the HTTP call to the token endpoint runs outside any transaction, and only the lease holder
    # stores its result. Not secret: an expiry and a random id of the attempt.
    refresh_lease_until = models.DateTimeField(null=True, blank=True)
    refresh_lease_owner = models.CharField(max_length=64, blank=True)
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

    @property
    def not_granted_scopes(self) -> list[dict]:
        """The blueprint's OAuth scopes the provider did not grant, as [{"scope", "purpose"}]: what
        will not work until the user re-authenticates and allows them."""
        return not_granted(self.integration.type, self.granted_scopes, has_refresh_token=bool(self.refresh_token))
