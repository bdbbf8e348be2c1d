from django.core.management.commands.createcachetable import Command as CreateCacheTable
from django.db import migrations


def create_cache_table(apps, schema_editor):
    # The database cache is used whenever REDIS_URL is unset, by the web process and the workers
    # alike. Create its table whatever the current configuration: a deployment that starts with
    # Redis and later drops it (or a worker started without REDIS_URL) must still find it.
    command = CreateCacheTable()
    command.verbosity = 0
    command.create_table(schema_editor.connection.alias, "metacortex_cache", dry_run=False)


class Migration(migrations.Migration):
    dependencies = [("integrations", "0004_workflow_trigger")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
