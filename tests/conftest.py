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
    from credentials.delivery import MemorySmsBackend

    MemorySmsBackend.outbox.clear()
    MemorySmsBackend.fail_next = False
    return MemorySmsBackend.outbox
