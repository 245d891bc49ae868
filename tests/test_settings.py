import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STRONG_KEY = "k" * 20 + "0123456789abcdefghijklmnopqrstuvwxyz"
PRODUCTION = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": STRONG_KEY,
    "DJANGO_ALLOWED_HOSTS": "otp.example.com",
    "OTPSITE_ENCRYPTION_KEYS": "k1:QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE",
    "OTPSITE_HMAC_KEY": "h" * 40,
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


def test_production_serves_with_its_secrets():
    assert run_python("import otpsite.wsgi", **PRODUCTION).returncode == 0


def test_check_deploy_is_clean_with_a_production_environment():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr


def test_migrations_can_be_checked_without_any_environment():
    result = run_manage("makemigrations", "--check", "--dry-run")
    assert result.returncode == 0 and "No changes detected" in result.stdout, result.stderr
