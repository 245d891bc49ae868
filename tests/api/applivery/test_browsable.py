import pytest

from tests.factories import AppAccessFactory

pytestmark = pytest.mark.django_db


def test_staff_browse_the_api_with_their_admin_session(superuser_client):
    access = AppAccessFactory()
    store = access.published_application.store
    collection = f"/v1/organizations/{store.organization.slug}/stores/{store.public_id}/otp-users"
    for url in (collection, f"{collection}/{access.public_id}"):
        response = superuser_client.get(url, HTTP_ACCEPT="text/html")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/html") and access.public_id in response.content.decode()
