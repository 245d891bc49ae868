"""Typed readers for settings that come from the environment.

Each reader fails with ImproperlyConfigured on a malformed value instead of guessing, so that a typo in a
deployment stops the server at start rather than running with a default nobody chose. Secrets may come
from a file named by `<NAME>_FILE` (Docker and Kubernetes secrets).
"""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be one of {sorted(_TRUE | _FALSE)}, not {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}, not {value}")
    return value


def env_list(name: str, default: list[str] | None = None, *, separator: str = ",") -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return list(default or [])
    return [item.strip() for item in raw.split(separator) if item.strip()]


def env_int_list(name: str, default: list[int], *, minimum: int, maximum: int) -> list[int]:
    """Comma-separated integers, each within [minimum, maximum]."""
    values = []
    for item in env_list(name, [str(value) for value in default]):
        try:
            value = int(item)
        except ValueError:
            raise ImproperlyConfigured(f"{name} must list integers, not {item!r}") from None
        if not minimum <= value <= maximum:
            raise ImproperlyConfigured(f"{name} values must be between {minimum} and {maximum}, not {value}")
        values.append(value)
    return values


def env_secret(name: str, default: str = "") -> str:
    """The value of NAME, or the contents of the file named by NAME_FILE."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text().strip()
        except OSError as error:
            raise ImproperlyConfigured(f"{name}_FILE names {file_name!r}, which cannot be read: {error}") from None
    return os.environ.get(name, default)


# A secret made by a random generator has many distinct characters (32 random hex digits have about 14,
# 32 random bytes about 30), no long runs and no repeating pattern; one typed by hand often has none of that.
SECRET_MIN_DISTINCT = 8
SECRET_MAX_RUN = 7


def secret_weakness(value: str | bytes) -> str | None:
    """Why this secret cannot have come from a random generator, or None when nothing shows it.

    Not a measure of strength: it catches what people type instead of a random value (one character
    repeated, an all-zero key, a short pattern repeated, a handful of characters)."""
    if not value:
        return "it is empty"
    if not value.strip(b"\x00" if isinstance(value, bytes) else "0"):
        return "it is all zeros"
    if len(set(value)) < SECRET_MIN_DISTINCT:
        return f"it has fewer than {SECRET_MIN_DISTINCT} distinct characters"
    run = longest = 1
    for previous, current in zip(value, value[1:], strict=False):
        run = run + 1 if current == previous else 1
        longest = max(longest, run)
    if longest > SECRET_MAX_RUN:
        return f"it repeats one character {longest} times in a row"
    if value in (value + value)[1:-1]:
        return "it is a short pattern repeated"
    return None


def env_rates(name: str, default: str) -> tuple[tuple[int, int], ...]:
    """Rate limits written `<count>/<seconds>`, several separated by commas (`3/900,10/86400`): at most
    `count` events in each fixed window of `seconds`."""
    raw = os.environ.get(name) or default
    rates = []
    for item in raw.split(","):
        count, separator, seconds = item.strip().partition("/")
        try:
            rate = (int(count), int(seconds))
        except ValueError:
            rate = None
        if not separator or rate is None or rate[0] < 1 or rate[1] < 1:
            raise ImproperlyConfigured(f"{name} must be '<count>/<seconds>[,<count>/<seconds>…]', not {raw!r}")
        rates.append(rate)
    return tuple(rates)
