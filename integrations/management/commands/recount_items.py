from django.core.management.base import BaseCommand, CommandError

from integrations import counts
from integrations.models import Integration


class Command(BaseCommand):
    help = "Rebuild each integration's live item count (Integration.item_count) from its synced items."

    def add_arguments(self, parser):
        parser.add_argument("ids", nargs="*", type=int, help="Only these integrations (default: all)")

    def handle(self, *args, ids, **options):
        queryset = Integration.objects.filter(pk__in=ids) if ids else Integration.objects.all()
        missing = sorted(set(ids) - set(queryset.values_list("pk", flat=True))) if ids else []
        if missing:
            raise CommandError(f"No integration {', '.join(map(str, missing))}; nothing was recounted.")
        fixed = counts.recount(queryset)
        self.stdout.write(self.style.SUCCESS(f"Recounted {queryset.count()} integration(s); {fixed} were off."))
