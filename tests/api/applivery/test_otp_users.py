"""The Applivery OTP-user surface, checked against the seed pages (shared/seeds/000, 001) and
reference/applivery.md: the permission ladder, tenant isolation, every field and type, and bad input."""

import json
import re
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from otpusers.models import MAX_SAFE_INTEGER, AppAccess, AuditEvent, OtpUser
from otpusers.registry import API_PERMISSIONS
from tests.factories import (
    AppAccessFactory,
    PublishedApplicationFactory,
    StoreFactory,
    UserFactory,
    make_api_key,
)

pytestmark = pytest.mark.django_db

ALL_PERMISSIONS = [name for name in API_PERMISSIONS if name.startswith("mad.store.otpUsers.")]
HEX24 = re.compile(r"^[a-fA-F0-9]{24}$")
ISO_MILLIS_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
NOT_FOUND = {"status": False, "error": {"code": 3001, "message": "Entity not found"}}


@pytest.fixture
def access():
    return AppAccessFactory(allowed_downloads_num=3)


@pytest.fixture
def store(access):
    return access.published_application.store


def collection_url(store, slug=None, store_id=None) -> str:
    return f"/v1/organizations/{slug or store.organization.slug}/stores/{store_id or store.public_id}/otp-users"


def item_url(access, access_id=None, store=None) -> str:
    store = store or access.published_application.store
    return f"{collection_url(store)}/{access_id or access.public_id}"


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def key_client(organization, *permissions) -> APIClient:
    return bearer(make_api_key(organization, *permissions)[1])


# Each endpoint: (name, method, permission, url builder, JSON body for a valid request)
ENDPOINTS = [
    ("list", "get", "mad.store.otpUsers.list", lambda a: collection_url(a.published_application.store), None),
    (
        "create",
        "post",
        "mad.store.otpUsers.create",
        lambda a: collection_url(a.published_application.store),
        lambda a: {
            "email": "new.person@example.com",
            "allowedDownloadsNum": 1,
            "publishedApplicationId": a.published_application.public_id,
        },
    ),
    ("get", "get", "mad.store.otpUsers.get", item_url, None),
    ("update", "put", "mad.store.otpUsers.update", item_url, lambda a: {"allowedDownloadsNum": 7}),
    ("remove", "delete", "mad.store.otpUsers.remove", item_url, None),
]
ENDPOINT_IDS = [endpoint[0] for endpoint in ENDPOINTS]


def call(client, method, url, body=None):
    if body is None:
        return getattr(client, method)(url)
    return getattr(client, method)(url, data=json.dumps(body), content_type="application/json")


def body_for(builder, access):
    return builder(access) if builder else None


class TestPermissionLadder:
    @pytest.mark.parametrize(("name", "method", "permission", "url", "body"), ENDPOINTS, ids=ENDPOINT_IDS)
    def test_anonymous_is_401_in_the_envelope(self, access, name, method, permission, url, body):
        response = call(APIClient(), method, url(access), body_for(body, access))
        assert response.status_code == 401
        assert response.json()["status"] is False
        assert response.json()["error"]["code"] == 4002
        assert response["WWW-Authenticate"].startswith("Bearer")

    @pytest.mark.parametrize(
        "header",
        ["Bearer nonsense", "Bearer 0123456789abcdef.wrong-secret", "Bearer", "Bearer a b", "Token abc"],
    )
    def test_a_bad_token_is_401(self, access, header):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=header)
        response = client.get(collection_url(access.published_application.store))
        assert response.status_code == 401
        assert response.json()["error"]["code"] == 4002

    def test_a_revoked_or_expired_key_is_401(self, access):
        from otpusers import services
        from otpusers.audit import Actor

        organization = access.published_application.store.organization
        revoked, revoked_token = make_api_key(organization, *ALL_PERMISSIONS)
        services.api_key_revoke(api_key=revoked, actor=Actor.system())
        _, expired_token = make_api_key(
            organization, *ALL_PERMISSIONS, expires_at=timezone.now() - timezone.timedelta(seconds=1)
        )
        for token in (revoked_token, expired_token):
            response = bearer(token).get(collection_url(access.published_application.store))
            assert response.status_code == 401

    @pytest.mark.parametrize(("name", "method", "permission", "url", "body"), ENDPOINTS, ids=ENDPOINT_IDS)
    def test_a_key_without_the_permission_is_403(self, access, name, method, permission, url, body):
        organization = access.published_application.store.organization
        others = [other for other in ALL_PERMISSIONS if other != permission]
        before = AppAccess.objects.count()
        response = call(key_client(organization, *others), method, url(access), body_for(body, access))
        assert response.status_code == 403
        assert response.json() == {
            "status": False,
            "error": {
                "code": 4003,
                "message": "Permission denied",
                "data": {"detail": f"This action requires the permission {permission}."},
            },
        }
        assert AppAccess.objects.count() == before

    @pytest.mark.parametrize(("name", "method", "permission", "url", "body"), ENDPOINTS, ids=ENDPOINT_IDS)
    def test_the_key_with_the_permission_succeeds(self, access, name, method, permission, url, body):
        organization = access.published_application.store.organization
        response = call(key_client(organization, permission), method, url(access), body_for(body, access))
        assert response.status_code == 200, response.content
        assert response.json()["status"] is True

    @pytest.mark.parametrize(("name", "method", "permission", "url", "body"), ENDPOINTS, ids=ENDPOINT_IDS)
    def test_another_organizations_key_gets_the_not_found_body(self, access, name, method, permission, url, body):
        outsider = StoreFactory().organization
        response = call(key_client(outsider, *ALL_PERMISSIONS), method, url(access), body_for(body, access))
        assert response.status_code == 404
        assert response.json() == NOT_FOUND

    @pytest.mark.parametrize(("name", "method", "permission", "url", "body"), ENDPOINTS[2:], ids=ENDPOINT_IDS[2:])
    def test_another_stores_object_is_not_found(self, access, name, method, permission, url, body):
        organization = access.published_application.store.organization
        sibling_store = StoreFactory(organization=organization)
        response = call(
            key_client(organization, *ALL_PERMISSIONS),
            method,
            item_url(access, store=sibling_store),
            body_for(body, access),
        )
        assert response.status_code == 404
        assert response.json() == NOT_FOUND
        assert AppAccess.objects.filter(pk=access.pk, allowed_downloads_num=3).exists()

    @pytest.mark.parametrize(("name", "method", "permission", "url", "body"), ENDPOINTS[2:], ids=ENDPOINT_IDS[2:])
    @pytest.mark.parametrize("bad_id", ["123", "zzzzzzzzzzzzzzzzzzzzzzzz", "6b07850374c428e5cbfb0bc0a", "0" * 24])
    def test_malformed_or_unknown_ids_are_not_found(self, access, name, method, permission, url, body, bad_id):
        organization = access.published_application.store.organization
        client = key_client(organization, *ALL_PERMISSIONS)
        response = call(client, method, item_url(access, access_id=bad_id), body_for(body, access))
        assert response.status_code == 404
        assert response.json() == NOT_FOUND

    @pytest.mark.parametrize("store_id", ["nothex", "0" * 24, "ABC"])
    def test_malformed_or_unknown_store_ids_are_not_found(self, access, store_id):
        client = key_client(access.published_application.store.organization, *ALL_PERMISSIONS)
        response = client.get(collection_url(access.published_application.store, store_id=store_id))
        assert response.status_code == 404
        assert response.json() == NOT_FOUND

    def test_an_unknown_organization_slug_is_not_found(self, access):
        client = key_client(access.published_application.store.organization, *ALL_PERMISSIONS)
        response = client.get(collection_url(access.published_application.store, slug="no-such-org"))
        assert response.json() == NOT_FOUND


class TestStaffSessions:
    def grant(self, user, *names):
        for name in names:
            app_label, codename = API_PERMISSIONS[name].django_permission.split(".")
            user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))

    def test_staff_member_with_the_mapped_permission_reads(self, access):
        user = UserFactory()
        self.grant(user, "mad.store.otpUsers.get")
        access.published_application.store.organization.staff.add(user)
        client = APIClient()
        client.force_login(user)
        assert client.get(item_url(access)).status_code == 200

    def test_staff_without_the_mapped_permission_is_403(self, access):
        user = UserFactory()
        access.published_application.store.organization.staff.add(user)
        client = APIClient()
        client.force_login(user)
        assert client.get(item_url(access)).status_code == 403

    def test_staff_of_another_organization_is_404(self, access):
        user = UserFactory()
        self.grant(user, "mad.store.otpUsers.get")
        client = APIClient()
        client.force_login(user)
        assert client.get(item_url(access)).json() == NOT_FOUND

    def test_a_non_staff_user_is_403(self, access):
        user = UserFactory(is_staff=False)
        self.grant(user, "mad.store.otpUsers.get")
        access.published_application.store.organization.staff.add(user)
        client = APIClient()
        client.force_login(user)
        assert client.get(item_url(access)).status_code == 403


def assert_seed_shape(data: dict, access: AppAccess) -> None:
    """Every field of the seed's OtpUser, with its type and pattern, and the values from the database."""
    access.refresh_from_db()
    assert set(data) == {
        "id",
        "organizationId",
        "storeId",
        "publishedApplicationId",
        "email",
        "allowedDownloadsNum",
        "lastLoginDate",
        "lastDownloadDate",
        "createdAt",
        "updatedAt",
    }
    for field in ("id", "organizationId", "storeId", "publishedApplicationId"):
        assert HEX24.match(data[field]), field
    assert data["id"] == access.public_id
    assert data["organizationId"] == access.published_application.store.organization.public_id
    assert data["storeId"] == access.published_application.store.public_id
    assert data["publishedApplicationId"] == access.published_application.public_id
    assert data["email"] == access.otp_user.email
    assert type(data["allowedDownloadsNum"]) is int
    assert data["allowedDownloadsNum"] == access.allowed_downloads_num
    for field, value in (
        ("createdAt", access.created_at),
        ("updatedAt", access.updated_at),
        ("lastLoginDate", access.last_login_at),
        ("lastDownloadDate", access.last_download_at),
    ):
        if value is None:
            assert data[field] is None, field
        else:
            assert ISO_MILLIS_Z.match(data[field]), (field, data[field])
            parsed = datetime.strptime(data[field], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
            assert abs((parsed - value).total_seconds()) < 0.001, field


class TestRetrieve:
    def test_every_seed_field_with_its_type(self, access):
        client = key_client(access.published_application.store.organization, "mad.store.otpUsers.get")
        response = client.get(item_url(access))
        assert response.status_code == 200
        assert response["Content-Type"] == "application/json"
        body = response.json()
        assert set(body) == {"status", "data"} and body["status"] is True
        assert body["data"]["lastLoginDate"] is None and body["data"]["lastDownloadDate"] is None
        assert_seed_shape(body["data"], access)

    def test_login_and_download_dates_once_they_happened(self, access):
        AppAccess.objects.filter(pk=access.pk).update(
            last_login_at=datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC),
            last_download_at=datetime(2026, 3, 1, 9, 31, tzinfo=UTC),
        )
        client = key_client(access.published_application.store.organization, "mad.store.otpUsers.get")
        data = client.get(item_url(access)).json()["data"]
        assert data["lastLoginDate"] == "2026-03-01T09:30:15.123Z"
        assert data["lastDownloadDate"] == "2026-03-01T09:31:00.000Z"

    def test_upper_case_ids_and_a_trailing_slash_are_accepted(self, access):
        client = key_client(access.published_application.store.organization, "mad.store.otpUsers.get")
        store = access.published_application.store
        url = f"{collection_url(store, store_id=store.public_id.upper())}/{access.public_id.upper()}/"
        response = client.get(url)
        assert response.status_code == 200
        assert response.json()["data"]["id"] == access.public_id


class TestUpdate:
    def client_for(self, access):
        return key_client(access.published_application.store.organization, "mad.store.otpUsers.update")

    @pytest.mark.parametrize("value", [-1, 0, 1, 250, MAX_SAFE_INTEGER])
    def test_changes_the_allowance(self, access, value):
        response = call(self.client_for(access), "put", item_url(access), {"allowedDownloadsNum": value})
        assert response.status_code == 200
        access.refresh_from_db()
        assert access.allowed_downloads_num == value
        assert_seed_shape(response.json()["data"], access)
        event = AuditEvent.objects.get(action="app_access.update", object_id=access.public_id)
        assert event.detail == {"allowed_downloads_num": [3, value]}
        assert event.api_key is not None and event.request_id

    def test_an_empty_body_changes_nothing(self, access):
        before = access.updated_at
        response = call(self.client_for(access), "put", item_url(access), {})
        assert response.status_code == 200
        access.refresh_from_db()
        assert access.allowed_downloads_num == 3 and access.updated_at == before

    def test_patch_is_not_allowed(self, access):
        response = self.client_for(access).patch(item_url(access), {"allowedDownloadsNum": 1}, format="json")
        assert response.status_code == 405
        assert response.json()["error"]["code"] == 4005


BAD_ALLOWANCES = [
    pytest.param("5", id="string"),
    pytest.param(1.5, id="float"),
    pytest.param(2.0, id="integral-float"),
    pytest.param(True, id="boolean"),
    pytest.param(None, id="null"),
    pytest.param(-2, id="below-minus-one"),
    pytest.param(MAX_SAFE_INTEGER + 1, id="above-max-safe-integer"),
    pytest.param([1], id="list"),
]


def assert_invalid(response, *fields):
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["status"] is False
    assert body["error"]["code"] == 6001
    assert body["error"]["message"] == "Database Validation Error"
    for field in fields:
        assert field in body["error"]["data"], body
        assert all(isinstance(message, str) and message for message in body["error"]["data"][field])


class TestUpdateBadInput:
    def send(self, access, raw: bytes | str, content_type="application/json"):
        client = key_client(access.published_application.store.organization, "mad.store.otpUsers.update")
        return client.put(item_url(access), data=raw, content_type=content_type)

    def assert_unchanged(self, access):
        before = access.updated_at
        access.refresh_from_db()
        assert access.allowed_downloads_num == 3 and access.updated_at == before
        assert not AuditEvent.objects.filter(action="app_access.update").exists()

    @pytest.mark.parametrize("value", BAD_ALLOWANCES)
    def test_bad_values(self, access, value):
        assert_invalid(self.send(access, json.dumps({"allowedDownloadsNum": value})), "allowedDownloadsNum")
        self.assert_unchanged(access)

    def test_unknown_field(self, access):
        response = self.send(access, json.dumps({"allowedDownloadsNum": 1, "email": "x@example.com"}))
        assert_invalid(response, "email")
        self.assert_unchanged(access)

    @pytest.mark.parametrize("raw", ['{"allowedDownloadsNum": ', "not json", "[1, 2]", '"text"', "12"])
    def test_malformed_json_or_not_an_object(self, access, raw):
        assert_invalid(self.send(access, raw), "body")
        self.assert_unchanged(access)

    @pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
    def test_wrong_content_type(self, access, content_type):
        assert_invalid(self.send(access, "allowedDownloadsNum=1", content_type), "Content-Type")
        self.assert_unchanged(access)


class TestCreate:
    def client_for(self, access):
        return key_client(access.published_application.store.organization, "mad.store.otpUsers.create")

    def test_one_email_answers_a_list(self, access):
        application = access.published_application
        response = call(
            self.client_for(access),
            "post",
            collection_url(application.store),
            {
                "email": "New.Person@example.com",
                "allowedDownloadsNum": -1,
                "publishedApplicationId": application.public_id,
            },
        )
        assert response.status_code == 200
        data = response.json()["data"]
        assert isinstance(data, list) and len(data) == 1
        created = AppAccess.objects.get(public_id=data[0]["id"])
        assert_seed_shape(data[0], created)
        assert created.allowed_downloads_num == -1 and created.downloads_used == 0
        assert AuditEvent.objects.filter(action="app_access.create", object_id=created.public_id).exists()

    def test_a_list_of_emails_reuses_people_the_organization_has(self, access):
        application = PublishedApplicationFactory(store=access.published_application.store)
        emails = [access.otp_user.email, "second@example.com", "third@example.com"]
        response = call(
            self.client_for(access),
            "post",
            collection_url(application.store),
            {
                "email": emails,
                "allowedDownloadsNum": 2,
                "publishedApplicationId": application.public_id.upper(),
            },
        )
        assert response.status_code == 200
        assert [item["email"] for item in response.json()["data"]] == emails
        assert OtpUser.objects.filter(organization=application.store.organization).count() == 3
        assert AppAccess.objects.filter(published_application=application).count() == 3

    def test_all_or_nothing_when_one_email_already_has_access(self, access):
        application = access.published_application
        response = call(
            self.client_for(access),
            "post",
            collection_url(application.store),
            {
                "email": ["fresh@example.com", access.otp_user.email.upper()],
                "allowedDownloadsNum": 2,
                "publishedApplicationId": application.public_id,
            },
        )
        assert_invalid(response, "email")
        assert AppAccess.objects.count() == 1
        assert not OtpUser.objects.filter(email="fresh@example.com").exists()

    def test_an_email_listed_twice_is_refused(self, access):
        application = access.published_application
        response = call(
            self.client_for(access),
            "post",
            collection_url(application.store),
            {
                "email": ["twice@example.com", "TWICE@example.com"],
                "allowedDownloadsNum": 2,
                "publishedApplicationId": application.public_id,
            },
        )
        assert_invalid(response, "email")
        assert AppAccess.objects.count() == 1

    def test_an_application_of_another_store_is_not_found(self, access):
        elsewhere = PublishedApplicationFactory(
            store=StoreFactory(organization=access.published_application.store.organization)
        )
        response = call(
            self.client_for(access),
            "post",
            collection_url(access.published_application.store),
            {
                "email": "x@example.com",
                "allowedDownloadsNum": 2,
                "publishedApplicationId": elsewhere.public_id,
            },
        )
        assert response.status_code == 404
        assert response.json() == NOT_FOUND
        assert AppAccess.objects.count() == 1


class TestCreateBadInput:
    def post(self, access, body, content_type="application/json"):
        client = key_client(access.published_application.store.organization, "mad.store.otpUsers.create")
        raw = body if isinstance(body, str) else json.dumps(body)
        return client.post(collection_url(access.published_application.store), data=raw, content_type=content_type)

    def valid(self, access, **changes):
        return {
            "email": "someone@example.com",
            "allowedDownloadsNum": 1,
            "publishedApplicationId": access.published_application.public_id,
            **changes,
        }

    def assert_nothing_created(self):
        assert AppAccess.objects.count() == 1
        assert OtpUser.objects.count() == 1
        assert not AuditEvent.objects.filter(action__in=["app_access.create", "otp_user.create"]).exists()

    @pytest.mark.parametrize("value", BAD_ALLOWANCES)
    def test_bad_allowance(self, access, value):
        assert_invalid(self.post(access, self.valid(access, allowedDownloadsNum=value)), "allowedDownloadsNum")
        self.assert_nothing_created()

    @pytest.mark.parametrize(
        "email",
        [
            pytest.param("not-an-email", id="no-at"),
            pytest.param(".dot@example.com", id="leading-dot"),
            pytest.param("a..b@example.com", id="double-dot"),
            pytest.param("a@example", id="no-tld"),
            pytest.param("a" * 250 + "@example.com", id="longer-than-256"),
            pytest.param(7, id="number"),
            pytest.param([], id="empty-list"),
            pytest.param(["ok@example.com", 5], id="list-with-a-number"),
            pytest.param(None, id="null"),
        ],
    )
    def test_bad_email(self, access, email):
        assert_invalid(self.post(access, self.valid(access, email=email)), "email")
        self.assert_nothing_created()

    @pytest.mark.parametrize("application_id", ["123", "g" * 24, 12, None])
    def test_bad_published_application_id(self, access, application_id):
        body = self.valid(access, publishedApplicationId=application_id)
        assert_invalid(self.post(access, body), "publishedApplicationId")
        self.assert_nothing_created()

    @pytest.mark.parametrize("missing", ["email", "allowedDownloadsNum", "publishedApplicationId"])
    def test_missing_field(self, access, missing):
        body = self.valid(access)
        del body[missing]
        assert_invalid(self.post(access, body), missing)
        self.assert_nothing_created()

    def test_unknown_field(self, access):
        assert_invalid(self.post(access, self.valid(access, role="admin")), "role")
        self.assert_nothing_created()

    def test_malformed_json(self, access):
        assert_invalid(self.post(access, '{"email": "a@example.com",'), "body")
        self.assert_nothing_created()

    def test_wrong_content_type(self, access):
        assert_invalid(self.post(access, "email=a@example.com", "application/x-www-form-urlencoded"), "Content-Type")
        self.assert_nothing_created()


class TestDelete:
    def test_deletes_the_access_and_keeps_the_person(self, access):
        client = key_client(access.published_application.store.organization, "mad.store.otpUsers.remove")
        response = client.delete(item_url(access))
        assert response.status_code == 200
        assert response.json() == {"status": True, "data": {"delete": True}}
        assert not AppAccess.objects.filter(pk=access.pk).exists()
        assert OtpUser.objects.filter(pk=access.otp_user_id).exists()
        assert AuditEvent.objects.filter(action="app_access.delete", object_id=access.public_id).exists()
        assert client.delete(item_url(access)).json() == NOT_FOUND


class TestList:
    @pytest.fixture
    def accesses(self, access):
        store = access.published_application.store
        other_app = PublishedApplicationFactory(store=store)
        made = [access]
        for n in range(4):
            made.append(AppAccessFactory(published_application=other_app, otp_user__email=f"list{n}@corp.example"))
        AppAccessFactory()  # another organization's, never listed
        AppAccessFactory(
            published_application=PublishedApplicationFactory(store=StoreFactory(organization=store.organization))
        )
        return made

    def get(self, access, query=""):
        client = key_client(access.published_application.store.organization, "mad.store.otpUsers.list")
        return client.get(f"{collection_url(access.published_application.store)}{query}")

    def test_the_full_pagination_block(self, accesses):
        response = self.get(accesses[0], "?page=2&limit=2")
        assert response.status_code == 200
        data = response.json()["data"]
        assert {key: value for key, value in data.items() if key != "items"} == {
            "totalDocs": 5,
            "limit": 2,
            "hasPrevPage": True,
            "hasNextPage": True,
            "page": 2,
            "totalPages": 3,
            "pagingCounter": 3,
            "prevPage": 1,
            "nextPage": 3,
        }
        assert len(data["items"]) == 2
        for item in data["items"]:
            assert_seed_shape(item, AppAccess.objects.get(public_id=item["id"]))

    def test_newest_first_by_default_and_every_page_once(self, accesses):
        pages = [self.get(accesses[0], f"?page={page}&limit=2").json()["data"]["items"] for page in (1, 2, 3)]
        ids = [item["id"] for page in pages for item in page]
        assert ids == [
            access.public_id for access in sorted(accesses, key=lambda a: (a.created_at, a.id), reverse=True)
        ]

    def test_past_the_last_page_is_empty(self, accesses):
        data = self.get(accesses[0], "?page=9&limit=2").json()["data"]
        assert data["items"] == [] and data["hasNextPage"] is False and data["totalPages"] == 3

    @pytest.mark.parametrize(("page", "items"), [(1, 3), (2, 1), (9, 0)])
    def test_a_filtered_list_gives_its_total_on_every_page(self, accesses, page, items):
        """A full page and one past the end count the matches; the last page counts itself."""
        data = self.get(accesses[0], f"?email=CORP.example&page={page}&limit=3").json()["data"]
        assert (len(data["items"]), data["totalDocs"], data["totalPages"]) == (items, 4, 2)

    def test_filters(self, accesses):
        access = accesses[0]
        by_app = self.get(access, f"?publishedApplicationId={access.published_application.public_id}").json()
        assert [item["id"] for item in by_app["data"]["items"]] == [access.public_id]
        by_application = self.get(
            access, f"?applicationId={accesses[1].published_application.application_public_id.upper()}"
        ).json()
        assert by_application["data"]["totalDocs"] == 4
        by_email = self.get(access, "?email=CORP.example").json()
        assert by_email["data"]["totalDocs"] == 4

    @pytest.mark.parametrize(
        ("sort", "key", "reverse"),
        [("email", "email", False), ("email:desc", "email", True), ("createdAt:asc", "createdAt", False)],
    )
    def test_sort(self, accesses, sort, key, reverse):
        items = self.get(accesses[0], f"?sort={sort}").json()["data"]["items"]
        values = [item[key] for item in items]
        assert values == sorted(values, reverse=reverse)

    @pytest.mark.parametrize(
        ("query", "field"),
        [
            ("?page=0", "page"),
            ("?page=abc", "page"),
            ("?limit=0", "limit"),
            ("?limit=1001", "limit"),
            ("?limit=1.5", "limit"),
            ("?sort=password", "sort"),
            ("?sort=email:sideways", "sort"),
            ("?publishedApplicationId=nothex", "publishedApplicationId"),
            ("?applicationId=123", "applicationId"),
            ("?email=" + "a" * 501, "email"),
        ],
    )
    def test_bad_parameters(self, accesses, query, field):
        assert_invalid(self.get(accesses[0], query), field)

    def test_query_count_does_not_grow_with_the_page_size(self, accesses):
        counts = []
        for limit in (1, 5):
            client = key_client(accesses[0].published_application.store.organization, "mad.store.otpUsers.list")
            with CaptureQueriesContext(connection) as queries:
                response = client.get(f"{collection_url(accesses[0].published_application.store)}?limit={limit}")
            assert len(response.json()["data"]["items"]) == limit
            counts.append(len(queries))
        assert counts[0] == counts[1]
        # the address's failure count, key, the key's request count, store (with organization), count, page:
        # nothing per row.
        assert counts[0] <= 7, counts
