"""Running real syncs in tests: queue a job the way the UI does, run it the way a worker does."""

from pathlib import Path

from django.utils import timezone

from integrations.models import IntegrationType, SyncedItem
from integrations.sync.engine import run_job
from integrations.sync.jobs import queue_sync
from tests.factories import make_integration

DATA = Path(__file__).resolve().parent.parent / "data"


def data_text(relative: str) -> str:
    return (DATA / relative).read_text(encoding="utf-8").replace("{Y}", str(timezone.now().year))


def connect(owner, slug: str, *, secrets=None, config=None, name="Test"):
    itype = IntegrationType.objects.get(slug=slug)
    from integrations import schema

    defaults = schema.clean(itype.source_schema, {}).values
    return make_integration(owner, itype, name=name, secrets=secrets or {}, config={**defaults, **(config or {})})


def sync(integration, **kwargs):
    job = queue_sync(integration, enqueue=False, **kwargs)
    finished = run_job(job.pk)
    integration.refresh_from_db()
    return finished


def live_items(integration):
    return SyncedItem.objects.filter(integration=integration, deleted_at__isnull=True)
