from django.apps import AppConfig


class TimelineConfig(AppConfig):
    """The personal data layer above the integrations: one entity per real thing, places, people
    and the links between them. It depends on `integrations`; `integrations` never imports it."""

    name = "timeline"
    verbose_name = "Timeline"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from metacortex.periodic import ensure_after_migrate
        from timeline import receivers  # noqa: F401  (follows the sync engine's batches)
        from timeline.schedules import DRAIN

        ensure_after_migrate(self, DRAIN)
