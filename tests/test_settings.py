import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Made once with secrets.token_urlsafe, os.urandom and secrets.token_hex; fixed so that the test repeats.
STRONG_KEY = "DJFMEODTUYwqF7qnGwGmnYlxpq0-iv1Os0-UvebsQmy3G_FcDPuRTTwsVBr0"
PRODUCTION = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": STRONG_KEY,
    "DJANGO_ALLOWED_HOSTS": "otp.example.com",
    "OTPSITE_ENCRYPTION_KEYS": "k1:YtxcA6tn_eRlN4IqBEhVjsmqOZT2BZNEekmllWh1w6g",
    "OTPSITE_HMAC_KEY": "ad25526b058383fb952f8aac2614182b035212d9",
    "OTPSITE_SELF_ADMIN_JWT_KEY": "KERF4c8GwyhbB0vDfxe_I0OP2TbG7kTuhwekxbdW43s",
}
# Low-entropy values of each secret (issue 10, finding 8), each long enough to pass a length check.
WEAK = {
    "DJANGO_SECRET_KEY": ("a" * 50, "DJANGO_SECRET_KEY"),
    "OTPSITE_HMAC_KEY": ("a" * 32, "OTPSITE_HMAC_KEY"),
    "OTPSITE_ENCRYPTION_KEYS": ("k0:" + "A" * 43, "OTPSITE_ENCRYPTION_KEYS key 'k0'"),
    "OTPSITE_SELF_ADMIN_JWT_KEY": ("0123456789abcdef" * 3, "OTPSITE_SELF_ADMIN_JWT_KEY"),
}


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "OTPSITE_"))}
    clean.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "otpsite.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    clean = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "OTPSITE_"))}
    clean.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("missing", ["DJANGO_SECRET_KEY", "OTPSITE_ENCRYPTION_KEYS", "OTPSITE_HMAC_KEY"])
def test_production_refuses_to_serve_without_its_secrets(missing):
    environment = {key: value for key, value in PRODUCTION.items() if key != missing}
    for entry_point in ("otpsite.wsgi", "otpsite.asgi"):
        served = run_python(f"import {entry_point}", **environment)
        assert served.returncode != 0 and missing in served.stderr, served.stderr[-2000:]
    deploy_check = run_manage("check", "--deploy", **environment)
    assert deploy_check.returncode != 0 and missing in deploy_check.stderr


@pytest.mark.parametrize("setting", WEAK)
def test_production_refuses_weak_secrets_naming_each(setting):
    value, named = WEAK[setting]
    environment = {**PRODUCTION, setting: value}
    served = run_python("import otpsite.wsgi", **environment)
    assert served.returncode != 0 and f"{named} is weak" in served.stderr, served.stderr[-2000:]
    deploy_check = run_manage("check", "--deploy", **environment)
    assert deploy_check.returncode != 0 and f"{named} is weak" in deploy_check.stderr


def test_an_all_zero_encryption_key_beside_a_good_one_is_named():
    zero_key = "old:" + "A" * 43  # base64 of 32 zero bytes
    environment = {**PRODUCTION, "OTPSITE_ENCRYPTION_KEYS": PRODUCTION["OTPSITE_ENCRYPTION_KEYS"] + "," + zero_key}
    deploy_check = run_manage("check", "--deploy", **environment)
    assert "key 'old' is weak (it is all zeros)" in deploy_check.stderr and "key 'k1'" not in deploy_check.stderr


def test_production_serves_with_its_secrets():
    assert run_python("import otpsite.wsgi", **PRODUCTION).returncode == 0


def test_what_the_application_loaded_is_kept_out_of_the_collector():
    """The URLconf is loaded and everything alive is frozen when the WSGI application is made: a full
    collection in a worker walks only what requests made since."""
    served = run_python(
        "import gc, sys; import otpsite.wsgi; "
        "print(gc.get_freeze_count(), 'otpsite.urls' in sys.modules, 'otpsite.api.capillary.views' in sys.modules)",
        **PRODUCTION,
    )
    frozen, urls_loaded, views_loaded = served.stdout.split()
    assert int(frozen) > 50_000 and urls_loaded == views_loaded == "True", served.stderr[-2000:]


def test_check_deploy_is_clean_with_a_production_environment():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr


def test_migrations_can_be_checked_without_any_environment():
    result = run_manage("makemigrations", "--check", "--dry-run")
    assert result.returncode == 0 and "No changes detected" in result.stdout, result.stderr
