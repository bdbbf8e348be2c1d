"""Personal API tokens for the JSON API. Only a hash is stored; the token is shown once."""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, models
from django.db.models import Q
from django.utils import timezone

from integrations.prepared import Prepared

TOKEN_PREFIX = "mc_"  # noqa: S105 - a public marker, not a secret


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


class ApiToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12, help_text="First characters, to recognise the token in a list")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(cls, user, name: str) -> tuple["ApiToken", str]:
        """Create a token; the plain value is returned once and never stored."""
        plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(user=user, name=name, token_hash=hash_token(plain), prefix=plain[:10])
        return token, plain

    @classmethod
    def authenticate(cls, plain: str):
        """The active user of an active token, else None. Every API request asks: one query whose
        SQL is written once (integrations.prepared), the token and its user from the same row."""
        found = _BY_HASH.rows(token_hash=hash_token(plain))
        if not found:
            return None
        token_id, last_used_at, *user_values = found[0]
        user_model = get_user_model()
        user = user_model.from_db(DEFAULT_DB_ALIAS, _attnames(user_model), user_values)
        if not user.is_active:
            return None
        token = cls.from_db(DEFAULT_DB_ALIAS, ["id", "user_id", "last_used_at"], [token_id, user.pk, last_used_at])
        token.touch()
        return user

    def touch(self) -> None:
        """Record a use, at most once every API_TOKEN_TOUCH_SECONDS: a write per request was most
        of a cheap API call's cost. The UPDATE's condition keeps concurrent requests (several
        workers) from all writing once the interval is over."""
        now = timezone.now()
        stale = now - timedelta(seconds=settings.API_TOKEN_TOUCH_SECONDS)
        if self.last_used_at is not None and self.last_used_at > stale:
            return
        ApiToken.objects.filter(Q(last_used_at__isnull=True) | Q(last_used_at__lte=stale), pk=self.pk).update(
            last_used_at=now
        )

    def revoke(self):
        self.revoked_at = timezone.now()
        self.save(update_fields=["revoked_at"])


def _attnames(model) -> list[str]:
    return [field.attname for field in model._meta.concrete_fields]


def _by_hash(token_hash):
    user_columns = [f"user__{name}" for name in _attnames(get_user_model())]
    return ApiToken.objects.active().filter(token_hash=token_hash).values_list("id", "last_used_at", *user_columns)[:1]


_BY_HASH = Prepared(_by_hash, token_hash="\x00a placeholder, never a hash\x00")  # noqa: S106 - not a secret
