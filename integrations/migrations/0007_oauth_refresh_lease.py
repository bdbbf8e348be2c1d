from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("integrations", "0006_pause_memory_and_encrypted_webhook_headers")]

    operations = [
        migrations.AddField(
            model_name="credential",
            name="refresh_lease_until",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="credential",
            name="refresh_lease_owner",
            field=models.CharField(blank=True, max_length=64),
        ),
    ]
