"""Starting a data export (the page and the API share this): one at a time per person."""

from __future__ import annotations

from django.db import transaction

from timeline.models import DataExport, ExportStatus


def start_export(user) -> tuple[DataExport, bool]:
    """The person's running export, or a new one queued for the worker. (export, created)."""
    active = DataExport.objects.filter(user=user, status__in=[ExportStatus.QUEUED, ExportStatus.RUNNING]).first()
    if active is not None:
        return active, False
    export = DataExport.objects.create(user=user)
    transaction.on_commit(lambda: _enqueue(export.pk))
    return export, True


def _enqueue(export_id: int):
    from django_q.tasks import async_task

    async_task("timeline.tasks.build_export", export_id, task_name=f"export-{export_id}", group="export")
