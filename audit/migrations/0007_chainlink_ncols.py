from django.db import migrations, models


def install_chain(apps, schema_editor):
    from audit import chain

    chain.install(using=schema_editor.connection.alias)  # the append function now records ncols


class Migration(migrations.Migration):
    dependencies = [("audit", "0006_two_factor_failed_password_set")]
    operations = [
        migrations.AddField(model_name="chainlink", name="ncols", field=models.SmallIntegerField(null=True)),
        migrations.RunPython(install_chain, migrations.RunPython.noop),
    ]
