from django.core.management.base import BaseCommand

from connectors.google.takeout import Archives
from integrations.management.commands._archive import run_archive_import
from integrations.management.commands._lookup import find_integration


class Command(BaseCommand):
    help = (
        "Import a Google Takeout export of Google Photos (all its zip parts) into a Google Photos integration: "
        "every photo and video with its JSON sidecar (capture time, description, people, location), streamed "
        "member by member; photos already imported (same bytes) are skipped. Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("integration", help="Integration id or name")
        parser.add_argument("zips", nargs="+", help="takeout-*.zip files (every part of one export)")

    def handle(self, *args, integration, zips, **options):
        target = find_integration(integration)
        run_archive_import(
            self,
            target,
            zips,
            handler="google_photos",
            what="a Google Takeout archive",
            validate=lambda p: Archives(p).close(),
        )
