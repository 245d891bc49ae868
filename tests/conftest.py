import pytest
from django.conf import settings
from rest_framework.test import APIClient

from tests.factories import make_api_key


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
