from django.db import migrations, models


def install_chain(apps, schema_editor):
    from audit import chain

    # The chain functions now hash the record's text (fmt 2); links written before keep their
    # jsonb hash (fmt null) and are verified in that form.
    chain.install(using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [("audit", "0007_chainlink_ncols")]
    operations = [
        migrations.AddField(model_name="chainlink", name="fmt", field=models.SmallIntegerField(null=True)),
        migrations.RunPython(install_chain, migrations.RunPython.noop),
    ]
