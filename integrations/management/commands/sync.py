from django.core.management.base import BaseCommand, CommandError

from integrations.management.commands._lookup import find_integration
from integrations.management.commands._progress import stdout_progress
from integrations.models import JobKind, JobTrigger
from integrations.sync.engine import run_job
from integrations.sync.jobs import SyncRefused, queue_sync


class Command(BaseCommand):
    help = "Sync one integration now, in this process (or --queue it for the workers)."

    def add_arguments(self, parser):
        parser.add_argument("integration", help="Integration id or name")
        parser.add_argument("--full", action="store_true", help="Full sync instead of incremental")
        parser.add_argument("--queue", action="store_true", help="Hand the job to the django-q2 workers")

    def handle(self, *args, integration, full, queue, **options):
        target = find_integration(integration)
        try:
            job = queue_sync(target, kind=JobKind.FULL if full else None, trigger=JobTrigger.COMMAND, enqueue=queue)
        except SyncRefused as exc:
            raise CommandError(f"{target.name} cannot sync: {exc}") from exc
        if queue:
            self.stdout.write(f"Queued sync job {job.pk} ({job.kind}) for {target.name}.")
            return
        finished = run_job(job.pk, on_progress=stdout_progress(self))
        report_finished(self, job, finished)


def report_finished(command, job, finished):
    if finished is None:
        raise CommandError(f"Job {job.pk} is being run by another worker.")
    summary = ", ".join(f"{k} {v}" for k, v in finished.counts.items())
    if finished.status in ("succeeded", "partial"):
        command.stdout.write(command.style.SUCCESS(f"Job {finished.pk} {finished.status}: {summary}"))
        if finished.remediation:
            command.stdout.write(finished.remediation)
    else:
        raise CommandError(
            f"Job {finished.pk} {finished.status} ({finished.error_class}): {finished.error_message} "
            f"{finished.remediation}"
        )
