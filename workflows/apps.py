from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    name = "workflows"
    verbose_name = "Workflows"

    def ready(self):
        from integrations import dependents
        from workflows import signals  # noqa: F401  (Schedules in step; reacts to integration lifecycle)
        from workflows.links import WorkflowDependents

        dependents.register(WorkflowDependents())
