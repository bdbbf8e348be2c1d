"""No single-column indexes on SyncedItem's user_id and integration_id.

Each was the leading column of a composite index already: user_id of synceditem_user_keyset
(user_id, occurred_at, id), integration_id of the unique (integration_id, external_id) and of the
(integration_id, occurred_at DESC) and (integration_id, kind) indexes. Every lookup, join and
cascade by either key is served by those, and each stored row cost two more btree insertions
(on PostgreSQL, two more index pages to dirty and WAL-log per batch). last_job_id keeps its own:
no composite index starts with it, and deleting a job sets it to NULL in its items."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('integrations', '0017_items_data_lz4'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name='synceditem',
            name='integration',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='items', to='integrations.integration'),
        ),
        migrations.AlterField(
            model_name='synceditem',
            name='user',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='synced_items', to=settings.AUTH_USER_MODEL),
        ),
    ]
