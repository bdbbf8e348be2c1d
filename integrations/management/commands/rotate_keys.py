from django.core.management.base import BaseCommand, CommandError

from integrations.keyrotation import rotate_all
from integrations.management.commands._arguments import positive_int


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret with the first key of FERNET_KEYS. Add the new key first in "
        "FERNET_KEYS (keeping the old one after it), restart web and worker, run this, then remove the old key."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=positive_int, default=500, help="Rows per committed batch")

    def handle(self, *args, batch_size, **options):
        try:
            result = rotate_all(batch_size=batch_size)
        except Exception as exc:
            raise CommandError(f"Rotation stopped: {exc}") from exc
        for label, count in result.per_field.items():
            changed = result.changed_meanwhile.get(label)
            note = f" ({changed} changed while rotating and were re-read)" if changed else ""
            self.stdout.write(f"  {label}: {count}{note}")
        self.stdout.write(self.style.SUCCESS(f"Rotated {result.total} encrypted values to the current key."))
