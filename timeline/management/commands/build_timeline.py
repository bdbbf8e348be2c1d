from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from integrations.models import SyncedItem
from timeline.ingest import ingest

BATCH = 500


class Command(BaseCommand):
    help = (
        "Take records already stored into the timeline (entities, places, people, links): for records "
        "synced before the timeline existed, or after changing how a connector maps its kinds. Safe to run "
        "again: a record already taken in is matched to its own entity."
    )

    def add_arguments(self, parser):
        parser.add_argument("--user", help="Only this account (email); default every account")
        parser.add_argument("--after", type=int, default=0, help="Resume after this record id")

    def handle(self, *args, user=None, after=0, **options):
        users = get_user_model().objects.order_by("pk")
        if user:
            users = users.filter(email__iexact=user)
            if not users.exists():
                raise CommandError(f"No account with the email {user}.")
        for account in users:
            items = SyncedItem.objects.filter(user=account, deleted_at__isnull=True, pk__gt=after).order_by("pk")
            total, done, last = items.count(), 0, after
            while True:
                ids = list(items.filter(pk__gt=last).values_list("pk", flat=True)[:BATCH])
                if not ids:
                    break
                ingest(account.pk, ids)
                done, last = done + len(ids), ids[-1]
                self.stdout.write(f"{account.email}: {done}/{total} records (resume with --after {last})")
            self.stdout.write(self.style.SUCCESS(f"{account.email}: {done} records in the timeline"))
