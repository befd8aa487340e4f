import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args, env_extra):
    # A production-like environment: none of the test-only variables of test_settings.
    keep = ("PATH", "HOME", "LANG", "DATABASE_URL", "CELERY_BROKER_URL", "EDC_PGDATA")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(env_extra)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_check_deploy_is_clean_with_production_settings():
    result = _manage(
        "check", "--deploy", "--fail-level", "WARNING",
        env_extra={"DEBUG": "false", "SECRET_KEY": "x" * 20 + "production-like-secret-key-with-entropy-9f8e7d6c",
                   "ALLOWED_HOSTS": "edc.example.org",
                   "DJANGO_SETTINGS_MODULE": "angel_rescue.settings"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_settings_refuse_to_start_without_secret_key():
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY",)}
    env.update({"DEBUG": "false", "DJANGO_SETTINGS_MODULE": "angel_rescue.settings"})
    env.pop("SECRET_KEY", None)
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "SECRET_KEY is required" in result.stderr


@pytest.mark.django_db
def test_no_missing_migrations():
    from django.core.management import call_command

    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
