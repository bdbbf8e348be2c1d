from django.core.management.base import BaseCommand

from connectors.spotify_music.export import export_files
from integrations.management.commands._archive import run_archive_import
from integrations.management.commands._lookup import find_integration


class Command(BaseCommand):
    help = (
        "Import a Spotify account-data export (the zip Spotify sent, its folder, or its JSON files) into a "
        "Spotify integration: the full listening history, merged with the plays the API reported, without "
        "duplicates. Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("integration", help="Integration id or name")
        parser.add_argument("paths", nargs="+", help="my_spotify_data.zip, a folder, or StreamingHistory JSON files")

    def handle(self, *args, integration, paths, **options):
        target = find_integration(integration)
        run_archive_import(self, target, paths, handler="spotify", what="a Spotify export", validate=export_files)
