"""SQL statements per request on the Applivery surface (transaction control not counted), pinned with the
API-key cache empty (cold) and filled (warm). Budgets from issue 9: single reads ≤ 2, lists ≤ 3, PUT ≤ 4."""

import pytest
from rest_framework.test import APIClient

from otpusers.models import ApiKey, AppAccess
from otpusers.registry import API_PERMISSIONS
from tests.factories import AppAccessFactory, OtpUserFactory, PublishedApplicationFactory, make_api_key
from tests.statements import assert_budgets, at_most, recently_used

pytestmark = pytest.mark.django_db

ALL_PERMISSIONS = [name for name in API_PERMISSIONS if name.startswith("mad.store.otpUsers.")]


@pytest.fixture
def store_with_accesses():
    application = PublishedApplicationFactory()
    for _ in range(5):
        AppAccessFactory(published_application=application)
    return application


@pytest.fixture
def client_and_key(store_with_accesses):
    api_key, token = make_api_key(store_with_accesses.store.organization, *ALL_PERMISSIONS)
    recently_used(api_key)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client, api_key


def collection(application) -> str:
    store = application.store
    return f"/v1/organizations/{store.organization.slug}/stores/{store.public_id}/otp-users"


def an_access(application) -> AppAccess:
    return AppAccessFactory(published_application=application)


def test_list(store_with_accesses, client_and_key, cold_api_key_cache):
    client, _ = client_and_key
    url = collection(store_with_accesses)
    # Unfiltered, the page alone: the store (with its counted total) is read ahead, in the client limits'
    # statement. Narrowed to a publication, the store is read with that publication's counter first.
    for query, warm in (
        ("", 1),
        ("?page=2&limit=2", 1),
        ("?sort=createdAt", 1),
        (f"?publishedApplicationId={store_with_accesses.public_id}", 2),
    ):
        assert_budgets(
            what=f"Applivery list{query}",
            prepare=lambda: None,
            request=lambda _, query=query: client.get(url + query),
            cold=warm + 1,
            warm=warm,
            clear_cache=cold_api_key_cache,
        )


def test_a_filtered_list_counts_its_matches_only_when_its_page_is_full(
    store_with_accesses, client_and_key, cold_api_key_cache
):
    """No counter serves an email or application filter: a last page (fewer rows than the limit) gives
    totalDocs itself; a full page leaves the rest to count."""
    client, _ = client_and_key
    url = collection(store_with_accesses)
    application = f"?applicationId={store_with_accesses.application_public_id}"
    for query, warm in (("?email=example", 2), (application, 2), ("?email=example&limit=1", 3)):
        assert_budgets(
            what=f"Applivery list{query}",
            prepare=lambda: None,
            request=lambda _, query=query: client.get(url + query),
            cold=warm + 1,
            warm=warm,
            clear_cache=cold_api_key_cache,
        )
    page = client.get(url + "?email=example&limit=1").json()["data"]
    assert page["totalDocs"] > 1 and page["hasNextPage"] is True
    last = client.get(url + "?email=example").json()["data"]
    assert last["totalDocs"] == len(last["items"]) == page["totalDocs"]


def test_retrieve(store_with_accesses, client_and_key, cold_api_key_cache):
    client, _ = client_and_key
    access = an_access(store_with_accesses)
    assert_budgets(
        what="Applivery get",
        prepare=lambda: None,
        request=lambda _: client.get(f"{collection(store_with_accesses)}/{access.public_id}"),
        cold=1,
        warm=0,
        clear_cache=cold_api_key_cache,
    )


def test_update(store_with_accesses, client_and_key, cold_api_key_cache):
    client, _ = client_and_key
    assert_budgets(
        what="Applivery PUT",
        prepare=lambda: an_access(store_with_accesses),
        request=lambda access: client.put(
            f"{collection(store_with_accesses)}/{access.public_id}", {"allowedDownloadsNum": 9}, format="json"
        ),
        cold=2,
        warm=1,
        clear_cache=cold_api_key_cache,
    )


def test_delete(store_with_accesses, client_and_key, cold_api_key_cache):
    client, _ = client_and_key
    assert_budgets(
        what="Applivery DELETE",
        prepare=lambda: an_access(store_with_accesses),
        request=lambda access: client.delete(f"{collection(store_with_accesses)}/{access.public_id}"),
        cold=3,
        warm=2,
        clear_cache=cold_api_key_cache,
    )


def test_create_for_a_new_person_and_for_a_known_one(store_with_accesses, client_and_key, cold_api_key_cache):
    client, _ = client_and_key
    organization = store_with_accesses.store.organization
    emails = iter(f"new{n}@example.com" for n in range(4))

    def create(email):
        body = {"email": email, "allowedDownloadsNum": 1, "publishedApplicationId": store_with_accesses.public_id}
        return client.post(collection(store_with_accesses), body, format="json")

    # key, application, person lookup, person insert + audit, access insert + audit
    assert_budgets(
        what="Applivery create (new person)",
        prepare=lambda: next(emails),
        request=create,
        cold=7,
        warm=6,
        clear_cache=cold_api_key_cache,
    )
    assert_budgets(
        what="Applivery create (known person)",
        prepare=lambda: OtpUserFactory(organization=organization).email,
        request=create,
        cold=5,
        warm=4,
        clear_cache=cold_api_key_cache,
    )


def test_a_key_first_used_in_a_minute_costs_one_update(store_with_accesses, client_and_key, cold_api_key_cache):
    client, api_key = client_and_key
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=None)
    access = an_access(store_with_accesses)
    with at_most(3, "Applivery get, key not used for a minute"):
        assert client.get(f"{collection(store_with_accesses)}/{access.public_id}").status_code == 200
    assert ApiKey.objects.get(pk=api_key.pk).last_used_at is not None
