from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self):
        from integrations import catalogue_cache, checks, signals  # noqa: F401  (registers checks and receivers)
        from integrations.oauth.tasks import REFRESH
        from integrations.uploads.schedule import SWEEP
        from metacortex.periodic import ensure_after_migrate

        ensure_after_migrate(self, REFRESH, SWEEP)
