"""`migrate` as the owner role (DATABASE_OWNER_URL), whatever role the process runs as.

The application connects as the least-privilege runtime role (DATABASE_URL), which cannot
create or alter tables; migrations are the owner's job. Afterwards audit.apps grants the
runtime role its rights and chains new audit tables.
"""

from django.conf import settings
from django.core.management.commands.migrate import Command as MigrateCommand
from django.db import DEFAULT_DB_ALIAS, connections


class Command(MigrateCommand):
    def handle(self, *args, **options):
        alias = options.get("database") or DEFAULT_DB_ALIAS
        owner = getattr(settings, "EDC_DB_OWNER", None)
        conn = connections[alias]
        if alias == DEFAULT_DB_ALIAS and owner and conn.settings_dict.get("USER") != owner["USER"]:
            conn.close()
            conn.settings_dict.update(owner)
        return super().handle(*args, **options)
