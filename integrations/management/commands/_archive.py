"""Running an archive import (Spotify export, Google Takeout) as a backfill job of the engine, so
dedup, checkpoints, counts and the job page are the same as for any sync."""

from pathlib import Path

from django.core.management.base import CommandError

from connectors.errors import ConnectorError
from integrations.management.commands.sync import run_in_foreground
from integrations.models import JobKind, JobTrigger
from integrations.sync.jobs import SyncRefused, queue_sync


def run_archive_import(command, integration, paths: list[str], *, handler: str, what: str, validate=None):
    if integration.type.handler != handler:
        raise CommandError(f"{integration.name} is a {integration.type.display_name} integration, not {what}.")
    resolved = []
    for raw in paths:
        path = Path(raw).expanduser().resolve()
        if not path.exists():
            raise CommandError(f"{raw} does not exist.")
        resolved.append(str(path))
    if validate is not None:
        try:
            validate(resolved)  # refuse a wrong file before touching the integration
        except ConnectorError as exc:
            raise CommandError(f"{exc.message} {exc.remediation}") from exc
    options = {"archive_paths": resolved}
    try:
        job = queue_sync(integration, kind=JobKind.BACKFILL, trigger=JobTrigger.COMMAND, options=options, enqueue=False)
    except SyncRefused as exc:
        raise CommandError(f"{integration.name} cannot import now: {exc}") from exc
    if job.options != options:
        raise CommandError(f"A sync (job {job.pk}) is already running for {integration.name}; try again when it ends.")
    command.stdout.write(f"Importing {what} into {integration.name} (job {job.pk}); already known records are skipped")
    return run_in_foreground(command, job)
