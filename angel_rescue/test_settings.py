"""Settings for the test suite: the production settings with test-only conveniences.

The database is the same real PostgreSQL (embedded unless DATABASE_URL is set).
"""

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-0123456789abcdefghij")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("SESSION_COOKIE_SECURE", "false")
os.environ.setdefault("CSRF_COOKIE_SECURE", "false")
os.environ.setdefault("EDC_MANIFEST_STATIC", "false")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")

from angel_rescue.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Tasks run in-process unless a test starts a real worker (see tests/conftest.py).
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# The tests connect as the owner role: pytest-django creates, migrates and flushes (TRUNCATE)
# the test database. What the runtime role may and may not do is tested by switching to it
# (tests/security/test_db_roles.py); after migrate it has been granted its rights on the test
# database exactly as in production.
DATABASES["default"].update(EDC_DB_OWNER)  # noqa: F405
