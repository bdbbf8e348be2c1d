from django.core.management.base import BaseCommand, CommandError

from integrations.management.commands._arguments import iso_date
from integrations.management.commands._lookup import find_integration
from integrations.management.commands.sync import run_in_foreground
from integrations.models import JobKind, JobTrigger
from integrations.sync.jobs import SyncRefused, queue_sync


class Command(BaseCommand):
    help = "Import an integration's history since a date, with a progress bar. Nothing is duplicated."

    def add_arguments(self, parser):
        parser.add_argument("integration", help="Integration id or name")
        parser.add_argument("--since", required=True, type=iso_date, help="Earliest date to import (YYYY-MM-DD)")

    def handle(self, *args, integration, since, **options):
        target = find_integration(integration)
        try:
            job = queue_sync(
                target,
                kind=JobKind.BACKFILL,
                trigger=JobTrigger.COMMAND,
                options={"since": since.isoformat()},
                enqueue=False,
            )
        except SyncRefused as exc:
            raise CommandError(f"{target.name} cannot sync: {exc}") from exc
        if job.kind != JobKind.BACKFILL:
            raise CommandError(
                f"Another sync (job {job.pk}, {job.kind}) is already {job.status} for {target.name}; "
                "run the backfill again once it has finished."
            )
        self.stdout.write(f"Backfilling {target.name} since {since:%Y-%m-%d} (job {job.pk})")
        run_in_foreground(self, job)
