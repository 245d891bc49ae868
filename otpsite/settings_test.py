"""Test settings: the real settings with only speed-related changes and a fixed test secret."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key-for-the-test-suite-only-0123456789abcdefghij")
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")
# The browser tests talk plain HTTP to the live server, so cookies must not be Secure there.
os.environ.setdefault("DJANGO_SESSION_COOKIE_SECURE", "false")
os.environ.setdefault("DJANGO_CSRF_COOKIE_SECURE", "false")
os.environ.setdefault(
    "OTPSITE_ENCRYPTION_KEYS",
    "test1:dGVzdC1rZXktb25lLWZvci10aGUtdGVzdC1zdWl0ZSE,test0:dGVzdC1rZXktemVyby1mb3ItdGhlLXRlc3Qtc3VpdGU",
)
os.environ.setdefault("OTPSITE_HMAC_KEY", "test-hmac-key-for-the-test-suite-only-0123456789")
os.environ.setdefault("OTPSITE_SMS_BACKEND", "credentials.delivery.MemorySmsBackend")
for _channel in ("VOICE", "WHATSAPP", "ZALO"):
    os.environ.setdefault(f"OTPSITE_{_channel}_BACKEND", "credentials.delivery.MemorySmsBackend")
# As in `make run`: tests read the schema anonymously (tests/test_headers.py checks the private setting).
os.environ.setdefault("OTPSITE_API_DOCS_PUBLIC", "true")
os.environ.setdefault("OTPSITE_SELF_ADMIN_JWT_KEY", "test-self-admin-key-for-the-test-suite-0123456789")
os.environ.setdefault("OTPSITE_CAPILLARY_OAUTH_JWT_KEY", "test-capillary-oauth-key-for-the-test-suite-0123456789")
# Staff sign in with a password alone unless a test turns the second factor on (tests/test_staff_auth.py).
os.environ.setdefault("OTPSITE_STAFF_TWO_FACTOR", "false")

from otpsite.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
MEDIA_ROOT = BASE_DIR / "test-artifacts" / "media"  # noqa: F405
# Live-server request threads must not keep connections open past their request, or the test database
# cannot be dropped at the end of the run.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
# Each test client loads the middleware afresh; WhiteNoise would then walk every static file (collected by
# the production-profile smoke test) on each one. Looking files up per request costs nothing here.
WHITENOISE_AUTOREFRESH = True
