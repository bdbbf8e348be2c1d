from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self):
        from django.db.models.signals import post_migrate

        from integrations import catalogue_cache, checks, signals  # noqa: F401  (registers checks and receivers)
        from integrations.oauth.tasks import ensure_schedule_after_migrate

        # The scheduled token refresh must exist on every hub, whatever happened to it: it is
        # (re)created after each `migrate`.
        post_migrate.connect(ensure_schedule_after_migrate, sender=self, dispatch_uid="oauth-refresh-schedule")
        from integrations.uploads.schedule import ensure_sweep_after_migrate

        post_migrate.connect(ensure_sweep_after_migrate, sender=self, dispatch_uid="upload-sweep-schedule")
