"""Item data compressed with lz4 instead of pglz on PostgreSQL 14+ built with lz4 (Debian's, the
official images' and the managed services' are).

A record's data above about 2 KB is compressed by PostgreSQL as it is stored: a mail's body, a
day of Health samples (tens of KB each). pglz compressed those at a few tens of MB/s, about a
third of the database's own time in a big import; lz4 is several times faster to compress and to
read back, for a slightly larger result. Only values written from now on use it (older ones stay
readable as they are). A server without lz4 keeps pglz: the migration asks the server first rather
than fail the deploy. The sync's staging table uses the same method (integrations/sync/upsert.py),
since PostgreSQL keeps a value compressed as it arrives when it is copied into another table."""

from django.db import migrations

TABLE, COLUMN = "integrations_synceditem", "data"


def _lz4_available(connection) -> bool:
    if connection.vendor != "postgresql" or connection.pg_version < 140000:
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
        row = cursor.fetchone()
    return bool(row) and "lz4" in (row[0] or [])


def lz4(apps, schema_editor):
    if _lz4_available(schema_editor.connection):
        schema_editor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN {COLUMN} SET COMPRESSION lz4")


def server_default(apps, schema_editor):
    if _lz4_available(schema_editor.connection):
        schema_editor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN {COLUMN} SET COMPRESSION DEFAULT")


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0016_items_search_index_per_user"),
    ]

    operations = [
        migrations.RunPython(lz4, server_default),
    ]
