"""Production secrets: `check --deploy` reports what is missing or weak, and the WSGI and ASGI entry points
refuse to serve until it is mended. Management commands such as `migrate` and `makemigrations` run
without them, and whatever needs a missing key fails loudly when it is used."""

import base64
import binascii

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.core.exceptions import ImproperlyConfigured

from otpsite.env import secret_weakness


def secret_problems() -> list[tuple[str, str]]:
    """(check id, what to do) for each production secret that is missing, weak or a development one."""
    development = set(settings.OTPSITE_DEVELOPMENT_SECRETS)
    problems = []
    try:
        secret_key = settings.SECRET_KEY
    except ImproperlyConfigured:  # Django refuses to hand out an empty one
        secret_key = ""
    if len(secret_key) < 50 or secret_key in development:
        problems.append(("E001", "DJANGO_SECRET_KEY (or _FILE) must hold at least 50 random characters."))
    elif weakness := secret_weakness(secret_key):
        problems.append(("E010", f"DJANGO_SECRET_KEY is weak ({weakness}): use 50 or more random characters."))
    keys = settings.OTPSITE_ENCRYPTION_KEYS
    if not keys or development.intersection(keys):
        problems.append(
            (
                "E002",
                "OTPSITE_ENCRYPTION_KEYS must list '<id>:<base64 of 32 random bytes>' keys (make one with: "
                "python -c \"import base64, os; print('k1:' + base64.urlsafe_b64encode(os.urandom(32)).decode())\").",
            )
        )
    else:
        from credentials import crypto

        try:
            crypto.current_key_id()
        except ImproperlyConfigured as error:
            problems.append(("E002", str(error)))
        else:
            problems.extend(_weak_encryption_keys(keys))
    if len(settings.OTPSITE_HMAC_KEY) < 32 or settings.OTPSITE_HMAC_KEY in development:
        problems.append(("E003", "OTPSITE_HMAC_KEY (or _FILE) must hold at least 32 random characters."))
    elif weakness := secret_weakness(settings.OTPSITE_HMAC_KEY):
        problems.append(("E011", f"OTPSITE_HMAC_KEY is weak ({weakness}): use 32 or more random characters."))
    jwt_key = settings.OTPSITE_SELF_ADMIN_JWT_KEY
    if jwt_key and (len(jwt_key) < 32 or jwt_key in development):
        problems.append(("E004", "OTPSITE_SELF_ADMIN_JWT_KEY must hold at least 32 random characters, or be empty."))
    elif jwt_key and (weakness := secret_weakness(jwt_key)):
        problems.append(("E013", f"OTPSITE_SELF_ADMIN_JWT_KEY is weak ({weakness}): use 32 or more random characters."))
    oauth_key = settings.OTPSITE_CAPILLARY_OAUTH_JWT_KEY
    if oauth_key and (len(oauth_key) < 32 or oauth_key in development):
        problems.append(
            ("E005", "OTPSITE_CAPILLARY_OAUTH_JWT_KEY must hold at least 32 random characters, or be empty.")
        )
    elif oauth_key and (weakness := secret_weakness(oauth_key)):
        problems.append(
            ("E014", f"OTPSITE_CAPILLARY_OAUTH_JWT_KEY is weak ({weakness}): use 32 or more random characters.")
        )
    return problems


def _weak_encryption_keys(keys: list[str]) -> list[tuple[str, str]]:
    problems = []
    for entry in keys:
        key_id, _, encoded = entry.partition(":")
        try:
            key = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except (ValueError, binascii.Error):
            continue  # crypto has already refused a malformed key
        if weakness := secret_weakness(key):
            problems.append(
                ("E012", f"OTPSITE_ENCRYPTION_KEYS key {key_id!r} is weak ({weakness}): use 32 random bytes.")
            )
    return problems


@register(Tags.security, deploy=True)
def check_production_secrets(app_configs, **kwargs) -> list[Error]:
    if settings.DEBUG:
        return []
    return [Error(message, id=f"otpsite.{check_id}") for check_id, message in secret_problems()]


def refuse_to_serve_without_secrets() -> None:
    if settings.DEBUG:
        return
    problems = secret_problems()
    if problems:
        raise ImproperlyConfigured(
            "otpsite will not serve with DJANGO_DEBUG off until: " + " ".join(message for _, message in problems)
        )
