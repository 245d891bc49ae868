import os
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from rest_framework.test import APIClient

from tests.factories import make_api_key

# Property tests (and schemathesis, which runs on Hypothesis) must not fail at random: on CI and in
# `make test` the examples are derived from each test's name (the same every run), nothing is timed, and a
# slow machine is not a failure. HYPOTHESIS_PROFILE=explore searches afresh each run, for local hunting.
hypothesis_settings.register_profile(
    "ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
hypothesis_settings.register_profile("explore", deadline=None, suppress_health_check=[HealthCheck.too_slow])
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_configure(config):
    # Constraints, row locks and the concurrency tests mean nothing on SQLite: refuse it outright.
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        pytest.exit("The tests run on PostgreSQL only: use `make test`, or set DATABASE_URL.", returncode=2)


def pytest_report_header(config):
    database = settings.DATABASES["default"]
    host = f"{database['HOST']}:{database['PORT']}"
    return f"database: PostgreSQL at {host} (test database test_{database['NAME']})"


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def client_with_key(api_client):
    """A factory: an API client authenticated with a new key of `organization` holding `permissions`."""

    def build(organization, *permissions: str) -> APIClient:
        _, token = make_api_key(organization, *permissions)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client

    return build


class Clock:
    """The time services see through django.utils.timezone.now, moved by the test instead of sleeping."""

    def __init__(self):
        self.now = timezone.now()

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    frozen = Clock()
    monkeypatch.setattr(timezone, "now", lambda: frozen.now)
    return frozen


@pytest.fixture(autouse=True)
def cold_api_key_cache():
    """Every test starts with no API key remembered by the process; call the fixture to empty it again."""
    from otpusers import services

    services.api_key_cache_clear()
    return services.api_key_cache_clear


@pytest.fixture
def superuser_client(client):
    from tests.factories import UserFactory

    client.force_login(UserFactory(username="root", is_superuser=True))
    return client


@pytest.fixture(autouse=True)
def sms_outbox():
    """The memory SMS gateway's outbox; reading it lets the in-process delivery worker send what is due."""
    from credentials.delivery import MemorySmsBackend
    from tests.delivery import DeliveredOutbox

    MemorySmsBackend.outbox.clear()
    MemorySmsBackend.fail_next = 0
    return DeliveredOutbox(lambda: MemorySmsBackend.outbox)


@pytest.fixture
def mailoutbox(mailoutbox):
    """pytest-django's mail outbox; reading it lets the in-process delivery worker send what is due."""
    from django.core import mail

    from tests.delivery import DeliveredOutbox

    return DeliveredOutbox(lambda: mail.outbox)


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_any_log_record():
    """Every log record the suite's flows emit, rendered as production renders it (JSON, with the extras):
    none may hold an issued code, a card grid, an API key secret or one of the server's keys."""
    import logging
    import re

    import structlog

    from credentials import card, codes
    from otpsite.logs import logging_config
    from otpusers import services as otpuser_services

    secrets: set[str] = {
        settings.SECRET_KEY,
        settings.OTPSITE_HMAC_KEY,
        settings.OTPSITE_SELF_ADMIN_JWT_KEY,
        *(entry.partition(":")[2] for entry in settings.OTPSITE_ENCRYPTION_KEYS),
    }
    issued_codes: set[str] = set()
    originals = (codes.generate_code, card.generate_cells, otpuser_services.api_key_create)

    def generate_code(*args, **kwargs):
        code = originals[0](*args, **kwargs)
        issued_codes.add(code)
        return code

    def generate_cells(*args, **kwargs):
        cells = originals[1](*args, **kwargs)
        secrets.update({"".join(cells), ",".join(cells), ", ".join(repr(cell) for cell in cells)})
        return cells

    def api_key_create(*args, **kwargs):
        api_key, secret = originals[2](*args, **kwargs)
        secrets.add(secret)
        return api_key, secret

    config = logging_config(json=True, level="DEBUG")["formatters"]["otpsite"]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=config["foreign_pre_chain"], processors=config["processors"]
    )
    lines: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record):
            lines.append(formatter.format(record))

    capture = Capture(level=logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(capture)
    codes.generate_code, card.generate_cells, otpuser_services.api_key_create = (
        generate_code,
        generate_cells,
        api_key_create,
    )
    yield lines
    codes.generate_code, card.generate_cells, otpuser_services.api_key_create = originals
    root.removeHandler(capture)
    # Codes shorter than six characters are left out: as numbers they turn up in timings by chance. A code
    # counts as logged when it stands as a whole word, so the lines' words are collected once and compared as
    # sets (a regex per code and line grew as lines × codes); secrets are matched on their longest run of
    # letters and digits, as a word of the line.
    # The fractions of a second in a logged time (axes writes "older than 2026-11-28 23:08:01.980514") are
    # six digits too: among the suite's thousands of codes, one may match by chance.
    words: set[str] = set()
    runs: set[str] = set()
    for line in lines:
        words.update(re.findall(r"\w+", re.sub(r"\d:\d\d\.\d+", "", line)))
        runs.update(re.findall(r"[A-Za-z0-9]+", line))
    checked_codes = {code for code in issued_codes if len(code) >= 6}
    secret_runs = {max(re.findall(r"[A-Za-z0-9]+", secret), key=len, default="") for secret in secrets if secret}
    leaked = (checked_codes & words) | {run for run in secret_runs if len(run) >= 12} & runs
    leaks = [line for line in lines if any(token in line for token in leaked)] if leaked else []
    assert not leaks, f"{len(leaks)} log lines hold a code or secret, e.g. {leaks[0][:300]}"
