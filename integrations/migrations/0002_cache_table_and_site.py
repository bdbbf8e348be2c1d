from urllib.parse import urlsplit

from django.conf import settings
from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    # The database cache (used when REDIS_URL is unset) needs its table; a no-op with Redis.
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


def name_the_site(apps, schema_editor):
    # Password-reset and confirmation mails link to this domain.
    Site = apps.get_model("sites", "Site")
    domain = urlsplit(settings.SITE_URL).netloc or "127.0.0.1:8000"
    Site.objects.update_or_create(pk=settings.SITE_ID, defaults={"domain": domain, "name": "MetaCortex"})


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0001_initial"),
        ("sites", "0002_alter_domain_unique"),
    ]

    operations = [
        migrations.RunPython(create_cache_table, migrations.RunPython.noop),
        migrations.RunPython(name_the_site, migrations.RunPython.noop),
    ]
