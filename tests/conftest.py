import pytest
from rest_framework.test import APIClient

from tests.factories import make_api_key


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
