from django.core.management.base import BaseCommand, CommandError

from integrations import catalogue


class Command(BaseCommand):
    help = "Seed or update the integration types from integrations/fixtures/catalogue/, keeping admin edits."

    def add_arguments(self, parser):
        parser.add_argument("slugs", nargs="*", help="Only these types (default: all)")
        parser.add_argument(
            "--force", action="store_true", help="Reset every field to the fixture, dropping admin edits"
        )

    def handle(self, *args, slugs, force, **options):
        try:
            report = catalogue.load(slugs or None, force=force)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"Catalogue: {report.summary()}"))
