"""IntegrationType: the developer-defined blueprint of a service, seeded from fixtures."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from integrations import schema


def default_sync_interval() -> int:
    """SYNC_DEFAULT_INTERVAL_MINUTES: for types that name no interval of their own."""
    return settings.SYNC_DEFAULT_INTERVAL_MINUTES


class Category(models.TextChoices):
    SOURCE = "source", "Source"
    OUTPUT = "output", "Output"
    BOTH = "both", "Source and output"


class Domain(models.TextChoices):
    CALENDAR = "calendar", "Calendar"
    MAIL = "mail", "Mail"
    PHOTOS = "photos", "Photos"
    MUSIC = "music", "Music"
    HEALTH = "health", "Health"
    FINANCE = "finance", "Finance"
    LEARNING = "learning", "Learning"
    PRODUCTIVITY = "productivity", "Productivity"
    MESSAGING = "messaging", "Messaging"
    DEVELOPER = "developer", "Developer"
    WEB = "web", "Web"


class AuthKind(models.TextChoices):
    OAUTH2 = "oauth2", "OAuth 2.0"
    PASSWORD = "password", "Username and password"
    API_KEY = "api_key", "API key"
    URL = "url", "URL"
    WEBHOOK_URL = "webhook_url", "Webhook URL"
    ARCHIVE = "archive", "Archive upload"
    NONE = "none", "No authentication"


class IntegrationTypeQuerySet(models.QuerySet):
    def available(self):
        return self.filter(is_available=True)

    def sources(self):
        return self.filter(category__in=[Category.SOURCE, Category.BOTH])

    def outputs(self):
        return self.filter(category__in=[Category.OUTPUT, Category.BOTH])


class IntegrationTypeManager(models.Manager.from_queryset(IntegrationTypeQuerySet)):
    def get_by_natural_key(self, slug):
        return self.get(slug=slug)


def validate_handler_key(value):
    from connectors.registry import registry

    if value and value not in registry:
        raise ValidationError(
            "%(value)s is not a registered connector; choose one of: %(keys)s",
            params={"value": value, "keys": ", ".join(sorted(registry.keys()))},
        )


def validate_schema(value):
    errors = schema.definition_errors(value)
    if errors:
        raise ValidationError(errors)


def validate_oauth_scopes(value):
    if not isinstance(value, list) or not all(
        isinstance(s, dict) and s.get("scope") and s.get("purpose") for s in value
    ):
        raise ValidationError('Scopes are a list of {"scope": ..., "purpose": ...} objects.')


def validate_alternatives(value):
    """[{"label": ..., "url": ...}]: a page of the hub ("/...") or an https address elsewhere."""
    if not isinstance(value, list) or not all(
        isinstance(a, dict)
        and set(a) == {"label", "url"}
        and isinstance(a["label"], str)
        and a["label"].strip()
        and isinstance(a["url"], str)
        and (a["url"].startswith("https://") or (a["url"].startswith("/") and not a["url"].startswith("//")))
        for a in value
    ):
        raise ValidationError(
            'Alternatives are a list of {"label": ..., "url": ...} objects; the url is a path of the hub '
            '("/integrations/connect/...") or an https:// address.'
        )


# Parameters the OAuth flow sets itself (integrations.oauth.flow.begin): an extra one of these names
# would be passed twice (every Connect a server error) or would weaken the flow (state, PKCE).
OAUTH_FLOW_PARAMS = {
    "client_id", "redirect_uri", "response_type", "scope", "state", "code_challenge", "code_challenge_method",
}  # fmt: skip


def oauth_extra_params_error(value) -> str | None:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and k.strip() and isinstance(v, str | int | float | bool) for k, v in value.items()
    ):
        return (
            "Extra authorization parameters are one JSON object of names and plain values, such as "
            '{"access_type": "offline", "prompt": "consent"}.'
        )
    taken = sorted(OAUTH_FLOW_PARAMS & {k.strip().lower() for k in value})
    if taken:
        return f"Extra authorization parameters cannot set {', '.join(taken)}: the hub's OAuth flow sets it."
    return None


def validate_icon(value):
    """A file of static/icons/: `{% static %}` of a missing file is a server error on every page showing
    the type (the manifest storage of a deployment knows only the files collectstatic found)."""
    from django.contrib.staticfiles import finders

    name = str(value or "")
    found = None
    if name and "/" not in name and "\\" not in name and name not in (".", ".."):
        found = finders.find(f"icons/{name}")
    if not found:
        raise ValidationError(
            "There is no icon file static/icons/%(name)s: give the name of a file there, such as rss.svg.",
            params={"name": name},
        )


def validate_service_path(value):
    if value and not (value.startswith("/") and not value.startswith("//")):
        raise ValidationError("A page of this hub: a path such as /timeline/automate/.")


class CardState(models.TextChoices):
    """What a gallery card offers; derived from is_available, service_url and unavailable_reason."""

    AVAILABLE = "available", "Connect"
    SERVICE = "service", "Service the hub offers"
    COMING_SOON = "coming_soon", "Coming soon"
    NOT_POSSIBLE = "not_possible", "Not possible"


def validate_string_list(value):
    if not isinstance(value, list) or not all(isinstance(s, str) and s for s in value):
        raise ValidationError("This must be a list of sentences.")


class IntegrationType(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    display_name = models.CharField(max_length=100)
    category = models.CharField(max_length=10, choices=Category.choices)
    domain = models.CharField(max_length=20, choices=Domain.choices)
    description = models.CharField(max_length=200, help_text="One line, shown on the gallery card.")
    details = models.TextField(blank=True, help_text="Longer explanation shown on the connect page.")
    icon = models.CharField(max_length=100, help_text="File name under static/icons/.")
    brand_color = models.CharField(max_length=7, default="#4f46e5")
    docs_url = models.URLField(blank=True)

    auth_kind = models.CharField(max_length=16, choices=AuthKind.choices)
    auth_schema = models.JSONField(default=list, blank=True, validators=[validate_schema])
    source_schema = models.JSONField(default=list, blank=True, validators=[validate_schema])
    output_schema = models.JSONField(default=list, blank=True, validators=[validate_schema])

    supports_scheduling = models.BooleanField(default=False)
    supports_refresh = models.BooleanField(default=False, help_text="Tokens that expire and refresh.")
    rate_limit_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="Requests per sliding 60 s window per instance; empty = none."
    )
    burst_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="Optional finer limit: requests per burst window."
    )
    burst_window_seconds = models.PositiveIntegerField(null=True, blank=True)
    default_sync_interval_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(7 * 24 * 60)],
        help_text="Empty: the hub's SYNC_DEFAULT_INTERVAL_MINUTES.",
    )

    oauth_authorize_url = models.URLField(blank=True)
    oauth_token_url = models.URLField(blank=True)
    oauth_revoke_url = models.URLField(blank=True)
    oauth_scopes = models.JSONField(default=list, blank=True, validators=[validate_oauth_scopes])
    oauth_extra_params = models.JSONField(default=dict, blank=True)
    data_read = models.JSONField(
        default=list, blank=True, validators=[validate_string_list], help_text="What the hub reads."
    )
    data_written = models.JSONField(
        default=list, blank=True, validators=[validate_string_list], help_text="What the hub writes."
    )

    handler = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_handler_key],
        help_text="Connector registry key (connectors/registry.py). Never a dotted path.",
    )
    is_available = models.BooleanField(
        default=False,
        help_text="Only true once its connector really works; otherwise 'coming soon', or 'not possible' "
        "when there is an unavailable reason.",
    )
    unavailable_reason = models.TextField(
        blank=True,
        help_text="Why this service cannot be connected at all (no API, no export...): its card then says "
        "'Not possible' with this reason instead of 'coming soon'. Empty for a service that will come.",
    )
    alternatives = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_alternatives],
        help_text='Other ways to the same data, shown with the reason: [{"label": ..., "url": ...}].',
    )
    service_url = models.CharField(
        max_length=200,
        blank=True,
        validators=[validate_service_path],
        help_text="For a service the hub offers (the other platform calls the hub, e.g. Zapier): the hub's "
        "page that explains how to set it up. Its card leads there instead of a connect form.",
    )
    sort_order = models.PositiveIntegerField(default=100)
    seed = models.JSONField(
        default=dict, blank=True, editable=False, help_text="Fixture values last applied (3-way merge on reload)"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = IntegrationTypeManager()

    class Meta:
        ordering = ["sort_order", "display_name"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(is_available=True, handler=""),
                name="available_type_has_handler",
                violation_error_message="An available type needs a connector handler.",
            ),
            models.CheckConstraint(condition=Q(category__in=Category.values), name="integrationtype_category_valid"),
            models.CheckConstraint(condition=Q(auth_kind__in=AuthKind.values), name="integrationtype_auth_kind_valid"),
        ]
        indexes = [models.Index(fields=["category", "domain"])]

    def __str__(self):
        return self.display_name

    @property
    def sync_interval_default(self) -> int:
        """Minutes between syncs for a new instance: the type's own, else the hub's default."""
        return self.default_sync_interval_minutes or default_sync_interval()

    def natural_key(self):
        return (self.slug,)

    def clean(self):
        if self.is_available and not self.handler:
            raise ValidationError({"handler": "An available type needs a connector handler."})
        if self.unavailable_reason.strip() and (self.is_available or self.service_url):
            raise ValidationError(
                {"unavailable_reason": "A type that can be connected or used has no reason to be unavailable."}
            )
        if self.service_url and self.handler:
            raise ValidationError({"service_url": "A service the hub offers has no connector handler."})
        if self.auth_kind == AuthKind.OAUTH2 and not (self.oauth_authorize_url and self.oauth_token_url):
            raise ValidationError("OAuth 2.0 types need authorize and token URLs.")
        extra_params_error = oauth_extra_params_error(self.oauth_extra_params)
        if extra_params_error:
            raise ValidationError({"oauth_extra_params": extra_params_error})
        if self.icon:
            try:
                validate_icon(self.icon)
            except ValidationError as exc:
                raise ValidationError({"icon": exc.messages}) from None
        if bool(self.burst_limit) != bool(self.burst_window_seconds):
            raise ValidationError("Set both the burst limit and its window, or neither.")

    @property
    def card_state(self) -> str:
        """available (a connector), service (the hub serves the other platform), not_possible (a
        reason says why it never can be connected) or coming_soon."""
        if self.is_available:
            return CardState.AVAILABLE
        if self.service_url:
            return CardState.SERVICE
        if self.unavailable_reason.strip():
            return CardState.NOT_POSSIBLE
        return CardState.COMING_SOON

    @property
    def is_source(self) -> bool:
        return self.category in (Category.SOURCE, Category.BOTH)

    @property
    def is_output(self) -> bool:
        return self.category in (Category.OUTPUT, Category.BOTH)

    @property
    def can_sync(self) -> bool:
        """Whether its integrations bring data in. Output-only services (Slack, Discord, a webhook)
        and types without a working connector have nothing to sync: no Sync now, no schedule."""
        from connectors.errors import ConfigError

        if not (self.is_source and self.is_available and self.handler):
            return False
        try:
            return self.connector_class().can_sync()
        except ConfigError:  # a handler that is not registered (a broken connector module)
            return False

    @property
    def syncs_on_request(self) -> bool:
        """Whether Sync now (and a re-sync or backfill) can bring anything in. An import-only type
        (auth_kind archive: Apple Health, Kindle) has no service to ask: its data comes only from the
        exports uploaded on its page, so its syncs are the import jobs those uploads start."""
        return self.can_sync and self.auth_kind != AuthKind.ARCHIVE

    @property
    def scope_list(self) -> list[str]:
        return [s["scope"] for s in self.oauth_scopes]

    @property
    def settings_schema(self) -> list[dict]:
        """Fields the user fills in when connecting: auth first, then source settings."""
        return list(self.auth_schema) + list(self.source_schema)

    def connector_class(self):
        from connectors.registry import registry

        return registry.get(self.handler)
