"""Applivery's workspace reads (reference/applivery.md §3): the organization's stores and a store's
published applications, with the organization named by 24-hex id or slug on every Applivery path."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from otpsite.api.authentication import ApiKeyPrincipal
from otpusers.models import PublishedApplication, Store
from tests.api.applivery.test_otp_users import HEX24, ISO_MILLIS_Z, NOT_FOUND, key_client
from tests.factories import (
    AppAccessFactory,
    OrganizationFactory,
    PublishedApplicationFactory,
    StoreFactory,
    UserFactory,
    make_api_key,
)

pytestmark = pytest.mark.django_db

STORE_LIST = "mad.store.management.list"
PUB_LIST = "mad.store.publishedApplication.list"
PUB_GET = "mad.store.publishedApplication.get"
STORE_FIELDS = {"id": str, "organization": str, "security": str, "createdAt": str, "updatedAt": str}
PUB_FIELDS = {
    "id": str, "organization": str, "store": str, "application": str, "slug": str, "visibility": str,
    "distributionUrl": str, "createdAt": str, "updatedAt": str,
}  # fmt: skip
PAGE_FIELDS = {
    "items", "totalDocs", "limit", "hasPrevPage", "hasNextPage", "page", "totalPages", "pagingCounter", "prevPage",
    "nextPage",
}  # fmt: skip


@pytest.fixture
def publication():
    return PublishedApplicationFactory(slug="beta-ios")


def stores_url(organization, by="slug") -> str:
    return f"/v1/organizations/{getattr(organization, by)}/stores"


def pubs_url(store, by="slug", store_id=None) -> str:
    return f"{stores_url(store.organization, by)}/{store_id or store.public_id}/pubApps"


def pub_url(publication, by="slug", publication_id=None) -> str:
    return f"{pubs_url(publication.store, by)}/{publication_id or publication.public_id}"


# (name, permission, url builder from a publication)
ENDPOINTS = [
    ("stores", STORE_LIST, lambda p: stores_url(p.store.organization)),
    ("pubApps", PUB_LIST, lambda p: pubs_url(p.store)),
    ("pubApp", PUB_GET, lambda p: pub_url(p)),
]
IDS = [endpoint[0] for endpoint in ENDPOINTS]


def error_code(response) -> int:
    body = response.json()
    assert body["status"] is False and set(body) == {"status", "error"}
    return body["error"]["code"]


class TestLadder:
    @pytest.mark.parametrize(("name", "permission", "url"), ENDPOINTS, ids=IDS)
    def test_anonymous_is_401(self, publication, name, permission, url):
        response = APIClient().get(url(publication))
        assert response.status_code == 401 and error_code(response) == 4002

    @pytest.mark.parametrize(("name", "permission", "url"), ENDPOINTS, ids=IDS)
    def test_a_key_without_the_permission_is_403(self, publication, name, permission, url):
        others = [p for p in (STORE_LIST, PUB_LIST, PUB_GET, "mad.store.otpUsers.list") if p != permission]
        response = key_client(publication.store.organization, *others).get(url(publication))
        assert response.status_code == 403 and error_code(response) == 4003
        assert permission in response.json()["error"]["data"]["detail"]

    @pytest.mark.parametrize(("name", "permission", "url"), ENDPOINTS, ids=IDS)
    @pytest.mark.parametrize("by", ["slug", "public_id"])
    def test_another_organizations_objects_are_like_missing_ones(self, publication, name, permission, url, by):
        outsider = key_client(OrganizationFactory(), permission)
        response = outsider.get(url(publication).replace(publication.store.organization.slug, "x"))
        other = outsider.get(
            url(publication).replace(publication.store.organization.slug, getattr(publication.store.organization, by))
        )
        assert (other.status_code, other.json()) == (response.status_code, response.json()) == (404, NOT_FOUND)

    def test_another_organizations_store_under_ones_own_organization_is_missing(self, publication):
        own = OrganizationFactory()
        client = key_client(own, PUB_LIST, PUB_GET)
        under_own = f"/v1/organizations/{own.slug}/stores/{publication.store.public_id}/pubApps"
        assert client.get(under_own).json() == NOT_FOUND
        assert client.get(f"{under_own}/{publication.public_id}").json() == NOT_FOUND
        own_store = StoreFactory(organization=own)
        # Another store's publication, through one's own store: missing too.
        assert client.get(f"{pubs_url(own_store)}/{publication.public_id}").json() == NOT_FOUND

    def test_staff_see_the_organizations_that_list_them(self, client, publication):
        from django.contrib.auth.models import Permission

        user = UserFactory()
        user.user_permissions.add(Permission.objects.get(codename="view_store"))
        client.force_login(user)
        url = stores_url(publication.store.organization)
        assert client.get(url).json() == NOT_FOUND
        publication.store.organization.staff.add(user)
        assert client.get(url).json()["data"]["totalDocs"] == 1


class TestOrganizationByIdOrSlug:
    @pytest.mark.parametrize(("name", "permission", "url"), ENDPOINTS, ids=IDS)
    def test_the_same_answer_by_id_by_upper_case_id_and_by_slug(self, publication, name, permission, url):
        organization = publication.store.organization
        client = key_client(organization, permission)
        by_slug = client.get(url(publication))
        assert by_slug.status_code == 200
        for other in (organization.public_id, organization.public_id.upper()):
            response = client.get(url(publication).replace(organization.slug, other))
            assert response.json() == by_slug.json()

    def test_otp_users_by_id_and_by_slug(self):
        access = AppAccessFactory()
        store = access.published_application.store
        client = key_client(store.organization, "mad.store.otpUsers.list", "mad.store.otpUsers.get")
        for path in ("", f"/{access.public_id}"):
            by_slug = client.get(
                f"/v1/organizations/{store.organization.slug}/stores/{store.public_id}/otp-users{path}"
            )
            by_id = client.get(
                f"/v1/organizations/{store.organization.public_id}/stores/{store.public_id}/otp-users{path}"
            )
            assert by_slug.status_code == 200 and by_id.json() == by_slug.json()

    @pytest.mark.parametrize("organization", ["ab", "a" * 23 + "!", "0" * 24])
    def test_unknown_or_malformed_organizations_are_missing(self, publication, organization):
        client = key_client(publication.store.organization, STORE_LIST)
        response = client.get(f"/v1/organizations/{organization}/stores")
        assert (response.status_code, response.json()) == (404, NOT_FOUND)


class TestStores:
    def test_the_documented_fields_and_page_block(self, publication):
        organization = publication.store.organization
        second = StoreFactory(organization=organization, security="logged")
        StoreFactory()  # another organization's
        response = key_client(organization, STORE_LIST).get(stores_url(organization) + "/?limit=1&page=2")
        assert response.status_code == 200
        body = response.json()
        assert body["status"] is True and set(body["data"]) == PAGE_FIELDS
        assert (body["data"]["totalDocs"], body["data"]["totalPages"], body["data"]["prevPage"]) == (2, 2, 1)
        [item] = body["data"]["items"]
        assert {name: type(value) for name, value in item.items()} == STORE_FIELDS
        assert item["id"] == second.public_id and item["organization"] == organization.public_id
        assert item["security"] == "logged" and ISO_MILLIS_Z.match(item["createdAt"]) and HEX24.match(item["id"])

    @pytest.mark.parametrize(("query", "field"), [("page=0", "page"), ("limit=1001", "limit"), ("sort=id", "sort")])
    def test_bad_parameters(self, publication, query, field):
        response = key_client(publication.store.organization, STORE_LIST).get(
            f"{stores_url(publication.store.organization)}?{query}"
        )
        assert response.status_code == 400 and error_code(response) == 6001
        assert field in response.json()["error"]["data"]

    def test_read_only(self, publication):
        client = key_client(publication.store.organization, STORE_LIST)
        response = client.post(stores_url(publication.store.organization), {}, format="json")
        assert response.status_code == 405 and error_code(response) == 4005
        assert Store.objects.count() == 1


class TestPublishedApplications:
    def test_the_documented_fields(self, publication):
        store = publication.store
        response = key_client(store.organization, PUB_GET).get(pub_url(publication))
        assert response.status_code == 200
        item = response.json()["data"]
        assert {name: type(value) for name, value in item.items()} == PUB_FIELDS
        assert (item["id"], item["store"], item["organization"]) == (
            publication.public_id,
            store.public_id,
            store.organization.public_id,
        )
        assert item["application"] == publication.application_public_id and item["slug"] == "beta-ios"
        assert item["visibility"] == "active" and ISO_MILLIS_Z.match(item["updatedAt"])
        assert item["distributionUrl"] == f"http://testserver/store/{store.slug}/beta-ios/"

    def test_list_filters_and_pages(self, publication):
        store = publication.store
        twin = PublishedApplicationFactory(
            store=store, slug="beta-android", application_public_id=publication.application_public_id
        )
        hidden = PublishedApplicationFactory(store=store, slug="alpha", visibility="unlisted")
        PublishedApplicationFactory(slug="elsewhere")
        client = key_client(store.organization, PUB_LIST)

        def ids(query=""):
            data = client.get(f"{pubs_url(store)}?{query}").json()["data"]
            return [item["id"] for item in data["items"]]

        assert ids() == [hidden.public_id, twin.public_id, publication.public_id]  # slug order
        assert ids(f"application={publication.application_public_id.upper()}") == [
            twin.public_id,
            publication.public_id,
        ]
        assert ids("slug=alpha") == [hidden.public_id] and ids("slug=alp") == []
        assert ids("visibility=unlisted") == [hidden.public_id]
        assert ids("limit=2&page=2") == [publication.public_id]

    @pytest.mark.parametrize(
        ("query", "field"),
        [
            ("page=0", "page"),
            ("limit=abc", "limit"),
            ("application=nothex", "application"),
            ("visibility=hidden", "visibility"),
            ("slug=" + "a" * 101, "slug"),
            ("security=public", "security"),
            ("filterType=last", "filterType"),
        ],
    )
    def test_bad_parameters(self, publication, query, field):
        response = key_client(publication.store.organization, PUB_LIST).get(f"{pubs_url(publication.store)}?{query}")
        assert response.status_code == 400 and error_code(response) == 6001
        assert field in response.json()["error"]["data"]

    @pytest.mark.parametrize("store_id", ["nothex", "0" * 24])
    def test_malformed_or_unknown_store_is_missing(self, publication, store_id):
        client = key_client(publication.store.organization, PUB_LIST, PUB_GET)
        assert client.get(pubs_url(publication.store, store_id=store_id)).json() == NOT_FOUND
        assert (
            client.get(f"{pubs_url(publication.store, store_id=store_id)}/{publication.public_id}").json() == NOT_FOUND
        )

    @pytest.mark.parametrize("publication_id", ["nothex", "0" * 24])
    def test_malformed_or_unknown_publication_is_missing(self, publication, publication_id):
        client = key_client(publication.store.organization, PUB_GET)
        response = client.get(pub_url(publication, publication_id=publication_id))
        assert (response.status_code, response.json()) == (404, NOT_FOUND)

    def test_read_only(self, publication):
        client = key_client(publication.store.organization, PUB_LIST, PUB_GET)
        assert client.post(pubs_url(publication.store), {"slug": "x"}, format="json").status_code == 405
        assert client.put(pub_url(publication), {"slug": "x"}, format="json").status_code == 405
        assert client.delete(pub_url(publication)).status_code == 405
        assert PublishedApplication.objects.get().slug == "beta-ios"


def statements(queries) -> list[str]:
    """The statements a request ran, without transaction control (BEGIN, SAVEPOINT, RELEASE, COMMIT)."""
    control = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
    return [query["sql"] for query in queries.captured_queries if not query["sql"].upper().startswith(control)]


class TestStatements:
    """Authentication is done beforehand (force_authenticate): the counts are the endpoints' own."""

    def client_for(self, organization, *permissions) -> APIClient:
        api_key, _ = make_api_key(organization, *permissions)
        client = APIClient()
        client.force_authenticate(user=ApiKeyPrincipal(api_key), token=api_key)
        return client

    @pytest.mark.parametrize("size", [1, 8])
    def test_lists_take_three_statements_whatever_the_page_size(self, size):
        organization = OrganizationFactory()
        stores = StoreFactory.create_batch(size, organization=organization)
        for n in range(size):
            PublishedApplicationFactory(store=stores[0], slug=f"app-{n:02d}")
        client = self.client_for(organization, STORE_LIST, PUB_LIST, PUB_GET)
        for url, by in ((stores_url(organization), "slug"), (pubs_url(stores[0], "public_id"), "id")):
            with CaptureQueriesContext(connection) as queries:
                response = client.get(url)
            assert len(response.json()["data"]["items"]) == size, by
            assert len(statements(queries)) <= 3, statements(queries)

    def test_a_single_read_takes_at_most_two_statements(self, publication):
        client = self.client_for(publication.store.organization, PUB_GET)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(pub_url(publication, by="public_id")).status_code == 200
        assert len(statements(queries)) <= 2, statements(queries)


class TestIndexes:
    @pytest.fixture
    def seeded(self):
        organizations = OrganizationFactory.create_batch(300)
        stores = Store.objects.bulk_create(
            Store(organization=organization, name=f"S{n}", slug=f"seed-store-{n}")
            for n, organization in enumerate(organizations)
        )
        PublishedApplication.objects.bulk_create(
            PublishedApplication(store=store, name=f"A{n}", slug=f"app-{n % 7}-{n}")
            for n, store in enumerate(stores * 7)
        )
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE otpusers_organization, otpusers_store, otpusers_publishedapplication")
        return stores

    def test_every_statement_of_the_three_endpoints_uses_an_index(self, seeded):
        store = seeded[42]
        publication = PublishedApplication.objects.filter(store=store).first()
        client = TestStatements().client_for(store.organization, STORE_LIST, PUB_LIST, PUB_GET)
        ran = []
        for url in (
            stores_url(store.organization),
            stores_url(store.organization, "public_id"),
            pubs_url(store) + "?visibility=active",
            pub_url(publication, "public_id"),
        ):
            with CaptureQueriesContext(connection) as queries:
                assert client.get(url).status_code == 200, url
            ran += statements(queries)
        # The lists' one page is their last, so it counts itself: the organization, the store, the page.
        assert len(ran) == 2 + 2 + 2 + 1
        with connection.cursor() as cursor:
            for sql in ran:
                cursor.execute("EXPLAIN " + sql)
                plan = "\n".join(row[0] for row in cursor.fetchall())
                assert "Index" in plan and "Seq Scan" not in plan, (sql, plan)
