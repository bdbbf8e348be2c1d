from django.apps import AppConfig


class TimelineConfig(AppConfig):
    """The personal data layer above the integrations: one entity per real thing, places, people
    and the links between them. It depends on `integrations`; `integrations` never imports it."""

    name = "timeline"
    verbose_name = "Timeline"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.db.models.signals import post_migrate

        from timeline import receivers  # noqa: F401  (follows the sync engine's batches)
        from timeline.schedules import ensure_drain_schedule

        post_migrate.connect(ensure_drain_schedule, sender=self, dispatch_uid="timeline-drain-schedule")
