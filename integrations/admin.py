"""The staff view. Secrets are never displayed: the credential admin shows only whether they
exist, when tokens expire and which scopes were granted. State changes and deletes go through
integrations.lifecycle, exactly as the user's own buttons do (revocation, audit events)."""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import Count
from django.utils import timezone
from django.utils.html import format_html

from connectors.registry import registry
from integrations import counts, lifecycle, schema
from integrations.catalogue import MANAGED_FIELDS
from integrations.models import (
    ApiToken,
    AuditEvent,
    CardState,
    Credential,
    Integration,
    IntegrationType,
    JobTrigger,
    OAuthApp,
    RateLimitBucket,
    RequestStat,
    Status,
    SyncedItem,
    SyncJob,
)
from integrations.sync.jobs import SyncRefused, queue_sync


class IntegrationTypeForm(forms.ModelForm):
    class Meta:
        model = IntegrationType
        fields = MANAGED_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A select of registered keys: the handler can never be an arbitrary dotted path.
        self.fields["handler"] = forms.ChoiceField(
            choices=[("", "— none (coming soon, not possible, or a service the hub offers) —"), *registry.choices()],
            required=False,
            help_text=self.fields["handler"].help_text,
        )


@admin.register(IntegrationType)
class IntegrationTypeAdmin(admin.ModelAdmin):
    form = IntegrationTypeForm
    list_display = [
        "display_name",
        "slug",
        "category",
        "domain",
        "auth_kind",
        "is_available",
        "state",
        "handler",
        "instances",
    ]
    list_filter = ["is_available", "category", "domain", "auth_kind", "supports_scheduling"]
    search_fields = ["display_name", "slug", "description", "handler"]
    ordering = ["sort_order", "display_name"]
    readonly_fields = ["created_at", "updated_at"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "slug",
                    "display_name",
                    "category",
                    "domain",
                    "description",
                    "details",
                    "icon",
                    "brand_color",
                    "docs_url",
                    "sort_order",
                ]
            },
        ),
        ("Connector", {"fields": ["handler", "is_available", "auth_kind"]}),
        (
            "When it cannot be connected",
            {
                "description": "A reason makes the card say 'Not possible' instead of 'Coming soon'; a service "
                "page makes it lead there (a service the hub offers, such as Zapier) instead of a connect form.",
                "fields": ["unavailable_reason", "alternatives", "service_url"],
            },
        ),
        ("Schemas", {"fields": ["auth_schema", "source_schema", "output_schema"]}),
        (
            "Capabilities",
            {
                "fields": [
                    "supports_scheduling",
                    "supports_refresh",
                    "default_sync_interval_minutes",
                    "rate_limit_per_minute",
                    "burst_limit",
                    "burst_window_seconds",
                ]
            },
        ),
        (
            "OAuth",
            {
                "classes": ["collapse"],
                "fields": [
                    "oauth_authorize_url",
                    "oauth_token_url",
                    "oauth_revoke_url",
                    "oauth_scopes",
                    "oauth_extra_params",
                    "data_read",
                    "data_written",
                ],
            },
        ),
        ("History", {"fields": ["created_at", "updated_at"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(instance_count=Count("integrations"))

    @admin.display(description="Card")
    def state(self, obj):
        return CardState(obj.card_state).label

    @admin.display(ordering="instance_count", description="Instances")
    def instances(self, obj):
        return obj.instance_count


class CredentialSummaryInline(admin.StackedInline):
    model = Credential
    can_delete = False
    extra = 0
    max_num = 0
    fields = ["stored", "token_type", "expires_at", "granted_scopes", "updated_at"]
    readonly_fields = fields

    @admin.display(description="Secrets")
    def stored(self, obj):
        parts = []
        if obj.secrets:
            parts.append(f"{len(obj.secrets)} form secret(s)")
        if obj.access_token:
            parts.append("access token")
        if obj.refresh_token:
            parts.append("refresh token")
        return (", ".join(parts) + " stored, encrypted; never displayed") if parts else "none"


class DeletesThroughLifecycle:
    """Admin deletes routed through integrations.lifecycle instead of a bare cascade. Django runs a
    confirmed delete inside a transaction, so the lifecycle is told to revoke grants at the
    provider once it commits (after_commit=True): no HTTP call while the database is locked."""

    def delete_model(self, request, obj):
        self.delete_through_lifecycle(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_through_lifecycle(request, obj)

    def delete_through_lifecycle(self, request, obj):
        raise NotImplementedError


class IntegrationForm(forms.ModelForm):
    """The config is checked against the type's settings as the person's own form checks it: a
    list, or a value the connector cannot read, broke the person's page and the API; a secret typed
    in here would be stored unencrypted and shown on this page."""

    def clean_config(self):
        config = self.cleaned_data.get("config")
        if not isinstance(config, dict):
            raise forms.ValidationError('The config is a JSON object of settings, such as {"window_past_days": 30}.')
        itype = self.cleaned_data.get("type") or getattr(self.instance, "type", None)
        if itype is None:
            return config
        specs = {spec["name"]: spec for spec in itype.settings_schema}
        errors, cleaned = [], dict(config)
        for name, value in config.items():
            spec = specs.get(name)
            if spec is None:
                continue  # not a setting of this type (kept as it is)
            if spec["type"] in schema.SECRET_TYPES:
                errors.append(f"{spec.get('label', name)} is a secret: it belongs in the credentials, never in config.")
                continue
            result = schema.clean([spec], {name: value})
            if result.errors:
                errors.append(result.errors[name])
            elif name in result.values:
                cleaned[name] = result.values[name]
        if errors:
            raise forms.ValidationError(errors)
        return cleaned


@admin.register(Integration)
class IntegrationAdmin(DeletesThroughLifecycle, admin.ModelAdmin):
    form = IntegrationForm
    list_display = ["name", "user", "type", "status_badge", "last_synced_at", "consecutive_failures"]
    list_filter = ["status", "type__domain", "type"]
    search_fields = ["name", "user__email", "account_identity", "type__display_name"]
    list_select_related = ["user", "type"]
    raw_id_fields = ["user"]
    readonly_fields = [
        "item_count",  # kept by the sync engine: the "Recount live items" action rebuilds it
        "status",  # changed by the actions (pause, resume), never typed in: see lifecycle
        "status_before_pause",
        "status_detail_before_pause",
        "sync_cursor",
        "last_synced_at",
        "last_used_at",
        "last_error",
        "last_error_at",
        "consecutive_failures",
        "created_at",
        "updated_at",
    ]
    inlines = [CredentialSummaryInline]
    actions = ["pause", "resume", "queue_sync", "recount_items"]

    def get_readonly_fields(self, request, obj=None):
        # Stored credentials belong to the type they were tested with: another type would be handed
        # secrets (a password, a private address) meant for a different service.
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and Credential.objects.filter(integration=obj).exists():
            fields.append("type")
        return fields

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj):
        return format_html("<span title='{}'>{}</span>", obj.status_detail, obj.get_status_display())

    def delete_through_lifecycle(self, request, obj):
        # As the user's own delete: workflows using it are paused and flagged (on the delete's
        # signal), synced items kept.
        lifecycle.delete(obj, delete_data=False, by_staff=True, after_commit=True)

    @admin.action(description="Recount the live items of selected integrations")
    def recount_items(self, request, queryset):
        fixed = counts.recount(queryset)
        self.message_user(request, f"Recounted {queryset.count()} integration(s); {fixed} count(s) were off.")

    @admin.action(description="Pause selected integrations (stop scheduled syncs)")
    def pause(self, request, queryset):
        paused, refused = 0, []
        for integration in queryset.select_related("type"):
            try:
                paused += lifecycle.pause(integration, by_staff=True)
            except lifecycle.Refused as exc:
                refused.append(str(exc))
        self.message_user(request, f"Paused {paused} integration(s).", messages.SUCCESS)
        for line in refused:
            self.message_user(request, line, messages.WARNING)

    @admin.action(description="Resume selected integrations")
    def resume(self, request, queryset):
        outcomes = {}
        for integration in queryset.filter(status=Status.PAUSED).select_related("type"):
            status = lifecycle.resume(integration, by_staff=True)
            outcomes.setdefault(Status(status).label.lower(), []).append(integration.name)
        if not outcomes:
            self.message_user(request, "None of the selected integrations was paused.", messages.WARNING)
        for label, names in outcomes.items():
            level = messages.SUCCESS if label == Status.CONNECTED.label.lower() else messages.WARNING
            self.message_user(request, f"Resumed as {label}: {', '.join(names)}.", level)

    @admin.action(description="Queue a sync now")
    def queue_sync(self, request, queryset):
        queued, refused = 0, []
        for integration in queryset.select_related("type"):
            try:
                queue_sync(integration, trigger=JobTrigger.ADMIN)
                queued += 1
            except SyncRefused as exc:
                refused.append(f"{integration.name}: {exc}")
        self.message_user(request, f"Queued {queued} sync(s).", messages.SUCCESS)
        for line in refused:
            self.message_user(request, line, messages.WARNING)


@admin.register(Credential)
class CredentialAdmin(DeletesThroughLifecycle, admin.ModelAdmin):
    """Listed so staff can see what exists and when tokens expire; values are excluded entirely.
    Deleting credentials here disconnects their integration (revoked at the provider, audited),
    so an integration never stays "connected" without credentials."""

    list_display = ["integration", "token_type", "expires_at", "updated_at"]
    search_fields = ["integration__name", "integration__user__email"]
    fields = ["integration", "token_type", "expires_at", "granted_scopes", "updated_at"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def delete_view(self, request, object_id, extra_context=None):
        title = "Disconnect this integration? Its credentials are revoked and deleted; synced data is kept."
        return super().delete_view(request, object_id, {**(extra_context or {}), "title": title})

    def delete_through_lifecycle(self, request, obj):
        lifecycle.disconnect(obj.integration, by_staff=True, after_commit=True)


@admin.register(SyncJob)
class SyncJobAdmin(admin.ModelAdmin):
    list_display = [
        "pk",
        "integration",
        "kind",
        "status",
        "trigger",
        "queued_at",
        "started_at",
        "finished_at",
        "seen",
        "created",
        "updated",
        "unchanged",
        "deleted",
        "failed",
    ]
    list_filter = ["status", "kind", "trigger", "error_class"]
    search_fields = ["integration__name", "integration__user__email", "error_message"]
    list_select_related = ["integration"]
    date_hierarchy = "queued_at"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in SyncJob._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(SyncedItem)
class SyncedItemAdmin(admin.ModelAdmin):
    list_display = ["title", "kind", "source_type", "source_name", "occurred_at", "deleted_at"]
    list_filter = ["kind", "source_type", ("deleted_at", admin.EmptyFieldListFilter)]
    search_fields = ["title", "external_id", "summary", "user__email"]
    raw_id_fields = ["user", "integration", "last_job"]
    date_hierarchy = "occurred_at"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in SyncedItem._meta.fields]

    def has_add_permission(self, request):
        return False

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        if obj.integration_id and obj.deleted_at is None:
            counts.adjust(obj.integration_id, -1)

    def delete_queryset(self, request, queryset):
        # The live item counts of the integrations concerned are recounted in the same transaction.
        touched = set(queryset.exclude(integration=None).values_list("integration_id", flat=True))
        super().delete_queryset(request, queryset)
        counts.recount(Integration.objects.filter(pk__in=touched))


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "action", "actor", "integration_label", "user"]
    list_filter = ["action", "actor"]
    search_fields = ["integration_label", "user__email"]
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(RequestStat)
class RequestStatAdmin(admin.ModelAdmin):
    list_display = ["integration", "hour", "requests", "errors", "rate_limited", "average_ms", "last_success_at"]
    list_filter = ["hour"]
    search_fields = ["integration__name"]


@admin.register(RateLimitBucket)
class RateLimitBucketAdmin(admin.ModelAdmin):
    list_display = ["key", "touched_at"]
    search_fields = ["key"]


class OAuthAppForm(forms.ModelForm):
    # Write-only: the stored secret is never rendered back; leaving it blank keeps it.
    client_secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave blank to keep the stored secret. It is encrypted and never displayed.",
    )

    class Meta:
        model = OAuthApp
        fields = [
            "integration_type", "client_id", "client_secret", "authorize_url", "token_url", "revoke_url",
            "api_base_url", "is_enabled",
        ]  # fmt: skip

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial["client_secret"] = ""

    def clean_client_secret(self):
        value = self.cleaned_data.get("client_secret")
        if not value and self.instance.pk:
            return OAuthApp.objects.get(pk=self.instance.pk).client_secret
        return value


@admin.register(OAuthApp)
class OAuthAppAdmin(admin.ModelAdmin):
    form = OAuthAppForm
    list_display = ["integration_type", "client_id", "is_enabled", "updated_at"]
    list_filter = ["is_enabled"]
    search_fields = ["integration_type__display_name", "client_id"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "user__email", "prefix"]
    fields = ["user", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
    # Revoking is one-way (the "revoke" action); an editable revoked_at could un-revoke a token.
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} token(s).", messages.SUCCESS)


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class AccountAdmin(DeletesThroughLifecycle, UserAdmin):
    """Django's user admin, with deletes that revoke the user's grants at their providers first."""

    def delete_through_lifecycle(self, request, obj):
        lifecycle.delete_account(obj, by_staff=True, after_commit=True)
