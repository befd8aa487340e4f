from django.db import migrations


def install_chain(apps, schema_editor):
    from audit import chain

    chain.install(using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0004_chainlink"),
        ("audit", "0003_context_append_only"),
        ("pghistory", "0007_auto_20250421_0444"),
    ]
    operations = [migrations.RunPython(install_chain, migrations.RunPython.noop)]
