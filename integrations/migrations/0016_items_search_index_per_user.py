"""The items search index, per person: GIN on (user_id, the text's tsvector) instead of the
tsvector alone (same name, synceditem_search_fts).

A search always asks for one person's items. With the tsvector alone, PostgreSQL found every
person's matches in the index and intersected them with a bitmap of all of the person's rows
(the user_id index: 100,000 entries read for a search by a person with 100,000 items), or read
every person's matching rows from the table: the cost grew with other people's rows. With
user_id as the index's first column (btree_gin gives integers a GIN operator class) the index
answers "this person's items holding these words" itself, reading about as many entries as the
person has matches."""

from django.contrib.postgres.operations import BtreeGinExtension
from django.db import migrations

INDEX = "synceditem_search_fts"
# integrations.models.items.SEARCH_VECTOR, written out as it was when this migration was made.
VECTOR = "to_tsvector('simple'::regconfig, (((title)::text || ' '::text) || left(summary, 4000)))"


def _replace(schema_editor, columns: str):
    if schema_editor.connection.vendor == "postgresql":  # SQLite searches with LIKE
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")
        schema_editor.execute(f"CREATE INDEX {INDEX} ON integrations_synceditem USING gin ({columns})")


def per_user(apps, schema_editor):
    _replace(schema_editor, f"user_id, {VECTOR}")


def text_only(apps, schema_editor):
    _replace(schema_editor, VECTOR)


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0015_items_keyset_and_search"),
    ]

    operations = [
        BtreeGinExtension(),
        migrations.RunPython(per_user, text_only),
    ]
