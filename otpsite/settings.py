"""otpsite settings: every deployment-specific value comes from the environment (see .env.example).

Development defaults are safe to run on a laptop. With DJANGO_DEBUG off the server refuses to start
without a real DJANGO_SECRET_KEY, and the security settings default to what `check --deploy` expects.
"""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF, UNSAFE_EVAL, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

from otpsite.env import env_bool, env_int, env_int_list, env_list, env_rates, env_secret, env_str
from otpsite.logs import configure_structlog, logging_config

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DJANGO_DEBUG", False)

# Development gets fixed, public secrets; with DEBUG off they stay empty unless the environment gives them,
# and otpsite/checks.py refuses to serve (and `check --deploy` fails) until it does.
_DEVELOPMENT_SECRET_KEY = "development-only-secret-key-never-use-in-production-0123456789abcdef"
_DEVELOPMENT_ENCRYPTION_KEY = "dev:ZGV2ZWxvcG1lbnQta2V5LW5vdC1mb3ItcHJvZHVjdGk"
_DEVELOPMENT_HMAC_KEY = "development-hmac-key-not-for-production"
_DEVELOPMENT_SELF_ADMIN_JWT_KEY = "development-self-admin-key-not-for-production"
_DEVELOPMENT_CAPILLARY_OAUTH_JWT_KEY = "development-capillary-oauth-key-not-for-production"
OTPSITE_DEVELOPMENT_SECRETS = (
    _DEVELOPMENT_SECRET_KEY,
    _DEVELOPMENT_ENCRYPTION_KEY,
    _DEVELOPMENT_HMAC_KEY,
    _DEVELOPMENT_SELF_ADMIN_JWT_KEY,
    _DEVELOPMENT_CAPILLARY_OAUTH_JWT_KEY,
)

SECRET_KEY = env_secret("DJANGO_SECRET_KEY") or (_DEVELOPMENT_SECRET_KEY if DEBUG else "")

# Keys for codes and card grids: `<id>:<base64 of 32 bytes>` pairs, the first one encrypting.
OTPSITE_ENCRYPTION_KEYS = env_list("OTPSITE_ENCRYPTION_KEYS") or ([_DEVELOPMENT_ENCRYPTION_KEY] if DEBUG else [])
OTPSITE_HMAC_KEY = env_secret("OTPSITE_HMAC_KEY") or (_DEVELOPMENT_HMAC_KEY if DEBUG else "")
# Former HMAC keys that still verify outstanding codes during a rotation (new codes use OTPSITE_HMAC_KEY).
OTPSITE_HMAC_PREVIOUS_KEYS = env_list("OTPSITE_HMAC_PREVIOUS_KEYS")

# SMS delivery: a dotted path to a backend class (console, webhook, memory; see credentials/delivery.py).
OTPSITE_SMS_BACKEND = env_str("OTPSITE_SMS_BACKEND", "credentials.delivery.ConsoleSmsBackend")
OTPSITE_SMS_WEBHOOK_URL = env_str("OTPSITE_SMS_WEBHOOK_URL")
OTPSITE_SMS_WEBHOOK_TOKEN = env_secret("OTPSITE_SMS_WEBHOOK_TOKEN")
OTPSITE_SMS_WEBHOOK_TIMEOUT = env_int("OTPSITE_SMS_WEBHOOK_TIMEOUT", 10, minimum=1, maximum=120)
# Voice call, WhatsApp and Zalo (Capillary's PHONE/MOBILE, WHATSAPP, ZALO channels): a backend class each,
# like OTPSITE_SMS_BACKEND (the webhook one shares the SMS webhook settings and names the channel). Empty:
# the channel has no gateway and is refused at once; development prints to the console.
_DEVELOPMENT_GATEWAY = "credentials.delivery.ConsoleSmsBackend" if DEBUG else ""
OTPSITE_VOICE_BACKEND = env_str("OTPSITE_VOICE_BACKEND", _DEVELOPMENT_GATEWAY)
OTPSITE_WHATSAPP_BACKEND = env_str("OTPSITE_WHATSAPP_BACKEND", _DEVELOPMENT_GATEWAY)
OTPSITE_ZALO_BACKEND = env_str("OTPSITE_ZALO_BACKEND", _DEVELOPMENT_GATEWAY)

# nevisIDM self-admin tokens (X-Token): HS256 key; empty switches self-admin off.
OTPSITE_SELF_ADMIN_JWT_KEY = env_secret("OTPSITE_SELF_ADMIN_JWT_KEY") or (
    _DEVELOPMENT_SELF_ADMIN_JWT_KEY if DEBUG else ""
)
OTPSITE_SELF_ADMIN_JWT_LEEWAY = env_int("OTPSITE_SELF_ADMIN_JWT_LEEWAY", 30, minimum=0, maximum=600)

# Capillary OAuth (POST /v3/oauth/token/generate, X-CAP-API-OAUTH-TOKEN): HS256 key of the access tokens
# and their lifetime in seconds (Capillary's sample: 300); an empty key switches OAuth off.
OTPSITE_CAPILLARY_OAUTH_JWT_KEY = env_secret("OTPSITE_CAPILLARY_OAUTH_JWT_KEY") or (
    _DEVELOPMENT_CAPILLARY_OAUTH_JWT_KEY if DEBUG else ""
)
OTPSITE_CAPILLARY_OAUTH_TTL_SECONDS = env_int("OTPSITE_CAPILLARY_OAUTH_TTL_SECONDS", 300, minimum=30, maximum=3600)

# The largest request body read, in bytes: a larger API body answers 413 in the surface's envelope (a larger
# form post, 400). JSON bodies may also nest at most otpsite.api.parsers.MAX_JSON_DEPTH levels.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("OTPSITE_MAX_BODY_BYTES", 1_048_576, minimum=1024)
# Seconds a client is told to wait (Retry-After) when the database cannot be reached (503).
OTPSITE_UNAVAILABLE_RETRY_AFTER = env_int("OTPSITE_UNAVAILABLE_RETRY_AFTER", 30, minimum=1, maximum=3600)

# Delivery runs on `manage.py db_worker` (Django's Tasks API, django-tasks-db on this database): a failed
# transient send is tried again after each of these delays, in seconds (3 tries over 2 minutes by default).
OTPSITE_DELIVERY_RETRY_DELAYS = env_int_list("OTPSITE_DELIVERY_RETRY_DELAYS", [30, 90], minimum=0, maximum=86_400)
# `manage.py prune` keeps issued codes, finished tasks and audit events this many days (audit the longest).
OTPSITE_RETENTION_CODES_DAYS = env_int("OTPSITE_RETENTION_CODES_DAYS", 90, minimum=1)
OTPSITE_RETENTION_TASKS_DAYS = env_int("OTPSITE_RETENTION_TASKS_DAYS", 7, minimum=1)
OTPSITE_RETENTION_AUDIT_DAYS = env_int("OTPSITE_RETENTION_AUDIT_DAYS", 400, minimum=1)
# Workers beat this often; one not seen for the stale period is taken for dead and its task run again.
OTPSITE_WORKER_HEARTBEAT_SECONDS = env_int("OTPSITE_WORKER_HEARTBEAT_SECONDS", 10, minimum=1, maximum=300)
OTPSITE_WORKER_STALE_SECONDS = env_int("OTPSITE_WORKER_STALE_SECONDS", 60, minimum=1, maximum=3600)
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
# How long a store-page sign-in lasts, in seconds.
OTPSITE_STORE_SESSION_SECONDS = env_int("OTPSITE_STORE_SESSION_SECONDS", 900, minimum=60, maximum=86_400)
# How long each process remembers an API key it has read (0: read it on every request). A key revoked or
# rotated in one process stops working in the others within this many seconds.
OTPSITE_API_KEY_CACHE_SECONDS = env_int("OTPSITE_API_KEY_CACHE_SECONDS", 5, minimum=0, maximum=60)

# Client limits (otpsite/limits.py), each `<count>/<seconds>` per fixed window, shared by every worker and node
# through OTPSITE_RATE_LIMIT_CACHE (the database unless that cache is Redis or memcached).
OTPSITE_RATE_LIMIT_CACHE = env_str("OTPSITE_RATE_LIMIT_CACHE", "default")
OTPSITE_AUTH_FAILURES_PER_IP = env_rates("OTPSITE_AUTH_FAILURES_PER_IP", "20/900")
OTPSITE_API_KEY_REQUESTS_PER_MINUTE = env_int("OTPSITE_API_KEY_REQUESTS_PER_MINUTE", 600, minimum=1)
OTPSITE_STORE_CODE_REQUESTS_PER_IP = env_rates("OTPSITE_STORE_CODE_REQUESTS_PER_IP", "30/3600")
OTPSITE_STORE_CODE_REQUESTS_PER_EMAIL = env_rates("OTPSITE_STORE_CODE_REQUESTS_PER_EMAIL", "3/900,10/86400")
# Addresses (or networks) of the proxies whose X-Forwarded-For is believed; empty: none, REMOTE_ADDR is the client.
OTPSITE_TRUSTED_PROXIES = env_list("OTPSITE_TRUSTED_PROXIES")

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    # django-unfold's templates come before the admin's; its basic config leaves the site class to ours.
    "unfold.apps.BasicAppConfig",
    "unfold.contrib.filters",
    "unfold.contrib.import_export",
    "otpsite.admin_site.OtpsiteAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "import_export",
    "otpusers",
    "credentials",  # before django_tasks_db: its `db_worker` command is the one with the heartbeat
    "django_tasks",
    "django_tasks_db",
    "otpsite",
    "otpsite.api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "otpsite.middleware.StaffConsoleScriptPolicyMiddleware",
    "otpsite.middleware.PermissionsPolicyMiddleware",
    "otpsite.middleware.RequestIdMiddleware",
    "otpsite.middleware.ClientIpMiddleware",
    "otpsite.middleware.StaleSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "otpsite.staff_auth.StaffTwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out sign-in into its 429 page.
    "axes.middleware.AxesMiddleware",
]

# Staff sign-in (otpsite/staff_auth.py): django-axes locks a username, and an address, out for
# OTPSITE_STAFF_LOCKOUT_MINUTES after OTPSITE_STAFF_SIGN_IN_FAILURES failed sign-ins; a second factor
# (TOTP or a backup code) is required of every staff user when OTPSITE_STAFF_TWO_FACTOR is on (the default
# with DEBUG off), and of those who enrolled one otherwise.
AUTHENTICATION_BACKENDS = [
    "otpsite.staff_auth.StaffLockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("OTPSITE_STAFF_SIGN_IN_FAILURES", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("OTPSITE_STAFF_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_CLIENT_IP_CALLABLE = "otpsite.middleware.client_ip"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
OTPSITE_STAFF_TWO_FACTOR = env_bool("OTPSITE_STAFF_TWO_FACTOR", not DEBUG)
OTP_TOTP_ISSUER = env_str("OTPSITE_TOTP_ISSUER", "otpsite")
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

ROOT_URLCONF = "otpsite.urls"
WSGI_APPLICATION = "otpsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
}
# Behind PgBouncer in transaction pooling, a server-side cursor (iterator()) cannot outlive its transaction.
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env_bool("DATABASE_DISABLE_SERVER_SIDE_CURSORS", False)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Parameters travel apart from the SQL, so psycopg prepares a statement on the server once a connection has
    # run it DATABASE_PREPARE_THRESHOLD times: the hot lookups are then planned once per connection instead of on
    # every request (planning was most of their database time). DATABASE_PREPARED_STATEMENTS=false turns the
    # preparing off, for PgBouncer before 1.21 in transaction pooling (docs/scaling.md).
    DATABASES["default"]["OPTIONS"] = {
        "server_side_binding": True,
        "prepare_threshold": (
            env_int("DATABASE_PREPARE_THRESHOLD", 5, minimum=0)
            if env_bool("DATABASE_PREPARED_STATEMENTS", True)
            else None
        ),
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # `make run`: the server and the worker share the file; take the write lock at BEGIN and wait for it.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The database cache table by default (`manage.py createcachetable`), so that every node shares it.
CACHES = {
    "default": {
        "BACKEND": env_str("DJANGO_CACHE_BACKEND", "django.core.cache.backends.db.DatabaseCache"),
        "LOCATION": env_str("DJANGO_CACHE_LOCATION", "otpsite_cache"),
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("OTPSITE_MEDIA_ROOT") or BASE_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

EMAIL_BACKEND = env_str(
    "DJANGO_EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("DJANGO_EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("DJANGO_EMAIL_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("DJANGO_EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_secret("DJANGO_EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("DJANGO_EMAIL_USE_TLS", False)  # STARTTLS, usually on port 587
EMAIL_USE_SSL = env_bool("DJANGO_EMAIL_USE_SSL", False)  # implicit TLS, usually on port 465
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("Set at most one of DJANGO_EMAIL_USE_TLS and DJANGO_EMAIL_USE_SSL.")
EMAIL_SSL_CERTFILE = env_str("DJANGO_EMAIL_SSL_CERTFILE") or None
EMAIL_SSL_KEYFILE = env_str("DJANGO_EMAIL_SSL_KEYFILE") or None
# Seconds an SMTP connect or answer may take before the delivery worker counts the try as failed.
EMAIL_TIMEOUT = env_int("DJANGO_EMAIL_TIMEOUT", 10, minimum=1, maximum=120)
DEFAULT_FROM_EMAIL = env_str("DJANGO_DEFAULT_FROM_EMAIL", "otpsite <no-reply@localhost>")

# Security: production defaults are the strict ones; a deployment behind a TLS-terminating proxy sets
# DJANGO_SECURE_PROXY_SSL_HEADER=true.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("DJANGO_SESSION_COOKIE_SECURE", not DEBUG)
# Django's database sessions, with a new key on sign-in in one statement instead of three (otpsite/sessions.py).
SESSION_ENGINE = "otpsite.sessions"
CSRF_COOKIE_SECURE = env_bool("DJANGO_CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", not DEBUG)
if env_bool("DJANGO_SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy on every response (django-csp). Every script, style sheet, font and image is
# served by otpsite itself (Swagger UI and Redoc from drf-spectacular-sidecar); inline styles are allowed
# because Swagger UI, Redoc and the admin set them, inline scripts are not.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "worker-src": [SELF, "blob:"],  # Redoc's search runs in a worker made from a blob
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
# The staff console (/admin/) only: django-unfold's Alpine.js evaluates its template expressions with the
# Function constructor (see otpsite.middleware.StaffConsoleScriptPolicyMiddleware). Still no inline script.
OTPSITE_STAFF_CONSOLE_CSP_UPDATE = {"script-src": [UNSAFE_EVAL]}
# Browser features no otpsite page uses, switched off for every page (otpsite.middleware).
OTPSITE_PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), "
    "usb=(), interest-cohort=()"
)
# Whether anyone may read the OpenAPI schema (/api/schema/) and its docs (/api/docs/, /api/redoc/); when
# off, only staff signed in to the admin may. On by default in development (`make run`), off in production.
OTPSITE_API_DOCS_PUBLIC = env_bool("OTPSITE_API_DOCS_PUBLIC", DEBUG)

REST_FRAMEWORK = {
    # Bearer first: DRF asks the first authenticator for the WWW-Authenticate header, and without one
    # an anonymous caller would get 403 instead of the documented 401.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "otpsite.api.authentication.ApiKeyBearerAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["otpsite.api.permissions.HasApiPermission"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["otpsite.api.parsers.BoundedJSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "otpsite.api.schema.SurfaceAutoSchema",
    "EXCEPTION_HANDLER": "otpsite.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "COERCE_DECIMAL_TO_STRING": False,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "otpsite API",
    "DESCRIPTION": (
        "One-time-password platform with wire-compatible vendor surfaces. Each surface keeps its vendor's "
        "paths, field names, authentication and error envelope; where the vendor leaves a point open, the "
        "operation's description says what otpsite decided. No string (in a path, query, header or body) may "
        "hold a NUL character, and a query parameter given must have a value: both answer 400."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["otpsite.api.docs.DocsAccess"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "otpsite.api.schema.document_paths_without_trailing_slash",
        "otpsite.api.schema.document_client_limits",
    ],
}

# The staff console (django-unfold): otpsite's name, grouped navigation, light and dark themes (the
# switch in the user menu; THEME unset lets each staff member choose), and the dashboard at the index.
UNFOLD = {
    "SITE_TITLE": "otpsite",
    "SITE_HEADER": "otpsite",
    "SITE_SUBHEADER": "One-time passwords, people and API keys",
    "SITE_SYMBOL": "password",
    "SITE_URL": None,
    "SHOW_VIEW_ON_SITE": False,
    "DASHBOARD_CALLBACK": "otpsite.dashboard.dashboard_callback",
    "SIDEBAR": {
        "show_search": True,
        "show_all_applications": False,
        "navigation": "otpsite.admin_site.sidebar_navigation",
    },
}

# Imports run in one transaction and are rolled back whole when any row fails.
IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_EXPORT_SKIP_ADMIN_LOG = True  # the services audit every imported row
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "add"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"

# One line per record on stderr: JSON in production, readable text in development (otpsite/logs.py).
OTPSITE_LOG_FORMAT = env_str("OTPSITE_LOG_FORMAT", "text" if DEBUG else "json")
if OTPSITE_LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured("OTPSITE_LOG_FORMAT must be 'json' or 'text'.")
LOGGING = logging_config(json=OTPSITE_LOG_FORMAT == "json", level=env_str("DJANGO_LOG_LEVEL", "INFO"))
configure_structlog()

# /metrics (otpsite/metrics.py): a bearer token, or client addresses/networks allowed without one.
OTPSITE_METRICS_TOKEN = env_secret("OTPSITE_METRICS_TOKEN")
OTPSITE_METRICS_ALLOWED_IPS = env_list("OTPSITE_METRICS_ALLOWED_IPS")
# Probes and scrapers speak plain HTTP to the node itself.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
