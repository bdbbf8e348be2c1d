"""Integration.item_count: the live (not tombstoned) synced items of each integration, kept by the
sync engine from now on (integrations.counts) and filled here for the existing rows in one UPDATE."""

from django.db import migrations, models
from django.db.models import Count, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce


def fill(apps, schema_editor):
    Integration = apps.get_model("integrations", "Integration")
    SyncedItem = apps.get_model("integrations", "SyncedItem")
    live = (
        SyncedItem.objects.filter(integration=OuterRef("pk"), deleted_at__isnull=True)
        .order_by()
        .values("integration")
        .annotate(n=Count("pk"))
        .values("n")
    )
    Integration.objects.update(item_count=Coalesce(Subquery(live), Value(0)))


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0013_catalogue_honesty"),
    ]

    operations = [
        migrations.AddField(
            model_name="integration",
            name="item_count",
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=True),
    ]
