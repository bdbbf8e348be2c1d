from django.core.management.base import BaseCommand, CommandError

from integrations.management.commands._lookup import find_integration
from integrations.management.commands._progress import stdout_progress
from integrations.models import JobKind, JobStatus, JobTrigger
from integrations.sync.engine import run_job
from integrations.sync.jobs import SyncRefused, queue_sync, upgrade_to_full


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
        if full and job.kind != JobKind.FULL:
            self._make_full(job, target)
        if queue:
            self.stdout.write(f"Queued sync job {job.pk} ({job.kind}) for {target.name}.")
            return
        run_in_foreground(self, job)

    def _make_full(self, job, target):
        """An incremental job was already waiting: --full must not quietly run it instead."""
        if not upgrade_to_full(job):
            job.refresh_from_db(fields=["status"])
            raise CommandError(
                f"Another sync (job {job.pk}, {job.kind}) is already {job.status} for {target.name}; "
                "run this command again with --full once it has finished."
            )
        self.stdout.write(f"Job {job.pk} was already queued as an incremental sync; it now runs as a full sync.")


def run_in_foreground(command, job):
    """Run a queued job in this process with a progress bar; Ctrl-C stops it cleanly (the job is
    cancelled, what was stored is kept) and exits with status 130, without a traceback."""
    try:
        finished = run_job(job.pk, on_progress=stdout_progress(command))
    except KeyboardInterrupt:
        command.stdout.write("")  # ends the progress bar's line
        raise CommandError(
            f"Stopped: sync job {job.pk} was cancelled; the records stored until now are kept. "
            "Run the command again to go on (nothing is stored twice).",
            returncode=130,
        ) from None
    report_finished(command, job, finished)
    return finished


def report_finished(command, job, finished):
    if finished is None:
        raise CommandError(f"Job {job.pk} is being run by another worker.")
    if finished.status == JobStatus.CANCELLED:
        raise CommandError(f"Job {finished.pk} was cancelled. {finished.error_message} {finished.remediation}".strip())
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
