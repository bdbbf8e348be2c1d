"""No single-column indexes on SyncedItem's user_id and integration_id.

Each was the leading column of a composite index already: user_id of synceditem_user_keyset
(user_id, occurred_at, id), integration_id of the unique (integration_id, external_id) and of the
(integration_id, occurred_at DESC) and (integration_id, kind) indexes. Every lookup, join and
cascade by either key is served by those, and each stored row cost two more btree insertions.
last_job_id keeps its own: no composite index starts with it, and deleting a job sets it to NULL
in its items.

Only the two indexes are dropped. Django's AlterField(db_index=False) would also drop and re-add
both foreign-key constraints, which on PostgreSQL checks every item row again while holding an
exclusive lock on the table (syncs and the API waiting for the whole migration); so the model's
state changes here and the database loses just the indexes, found by introspection (their names
are Django's hashes)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

TABLE = "integrations_synceditem"
COLUMNS = ("user_id", "integration_id")


def _single_column_indexes(schema_editor) -> list[str]:
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, TABLE)
    return [
        name
        for name, info in constraints.items()
        if info["index"]
        and not info["unique"]
        and not info["primary_key"]
        and tuple(info["columns"]) in {(c,) for c in COLUMNS}
    ]


def drop_indexes(apps, schema_editor):
    quote = schema_editor.quote_name
    for name in _single_column_indexes(schema_editor):
        schema_editor.execute(f"DROP INDEX IF EXISTS {quote(name)}")


def create_indexes(apps, schema_editor):
    model = apps.get_model("integrations", "SyncedItem")
    have = set(_single_column_indexes(schema_editor))
    for column in COLUMNS:
        name = schema_editor._create_index_name(TABLE, [column])
        if name not in have:
            schema_editor.execute(
                f"CREATE INDEX {schema_editor.quote_name(name)} ON {schema_editor.quote_name(model._meta.db_table)} "
                f"({schema_editor.quote_name(column)})"
            )


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0017_items_data_lz4"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="synceditem",
                    name="integration",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="items",
                        to="integrations.integration",
                    ),
                ),
                migrations.AlterField(
                    model_name="synceditem",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="synced_items",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop_indexes, create_indexes)],
        ),
    ]
