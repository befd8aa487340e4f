#!/usr/bin/env python
import os
import sys

# Commands that only read models and migration files: they never sign, serve or store anything,
# so a developer (or a pre-commit hook) can run them without a production SECRET_KEY.
_KEYLESS_COMMANDS = {"makemigrations", "showmigrations", "sqlmigrate"}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "angel_rescue.settings")
    if len(sys.argv) > 1 and sys.argv[1] in _KEYLESS_COMMANDS and not os.environ.get("SECRET_KEY"):
        os.environ["SECRET_KEY"] = "unused-by-" + sys.argv[1]
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
