from django.core.management.base import BaseCommand

from integrations.uploads.imports import sweep


class Command(BaseCommand):
    help = (
        "Delete uploaded archives left unfinished or unimported past UPLOAD_EXPIRE_HOURS, and tidy the files of "
        "imports whose job has ended. The worker runs this every 30 minutes; use it from cron without a worker."
    )

    def handle(self, *args, **options):
        result = sweep()
        self.stdout.write(
            f"Expired {result['expired']} stale upload(s); settled {result['settled']} finished import(s)."
        )
