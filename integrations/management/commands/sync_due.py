from django.core.management.base import BaseCommand

from integrations.sync.due import queue_due


class Command(BaseCommand):
    help = "Queue a sync for every integration whose interval has passed, and re-queue stale jobs."

    def handle(self, *args, **options):
        result = queue_due()
        self.stdout.write(f"Queued {len(result['queued'])} sync(s); re-queued {result['requeued_stale']} stale job(s).")
        for pk, reason in result["skipped"]:
            self.stdout.write(f"  skipped integration {pk}: {reason}")
