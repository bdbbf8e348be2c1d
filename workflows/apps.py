from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    name = "workflows"
    verbose_name = "Workflows"

    def ready(self):
        from workflows import signals  # noqa: F401  (keeps each workflow's Schedule in step)
