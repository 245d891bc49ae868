"""Every model's admin renders its changelist, search, add and change pages; writes go through services;
the API key secret appears once, on the page that answers the add form, and never again."""

import pytest
from django.urls import reverse

from otpusers.models import ApiKey, AppAccess, AuditEvent, Organization, OtpUser, PublishedApplication, Store
from tests.factories import AppAccessFactory, make_api_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def access():
    return AppAccessFactory()


def objects_for(access):
    api_key, _ = make_api_key(access.published_application.store.organization, "mad.store.otpUsers.get")
    event = AuditEvent.objects.first()
    return {
        Organization: access.published_application.store.organization,
        Store: access.published_application.store,
        PublishedApplication: access.published_application,
        OtpUser: access.otp_user,
        AppAccess: access,
        ApiKey: api_key,
        AuditEvent: event,
    }


MODELS = [Organization, Store, PublishedApplication, OtpUser, AppAccess, ApiKey, AuditEvent]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_changelist_search_add_and_change_pages_render(superuser_client, access, model):
    obj = objects_for(access)[model]
    opts = model._meta
    changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    assert superuser_client.get(changelist).status_code == 200
    assert superuser_client.get(changelist, {"q": "example"}).status_code == 200
    add = superuser_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))
    assert add.status_code == (403 if model is AuditEvent else 200)
    change = superuser_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]))
    assert change.status_code == 200


def test_the_changelist_search_finds_by_email(superuser_client, access):
    response = superuser_client.get(reverse("admin:otpusers_appaccess_changelist"), {"q": access.otp_user.email})
    assert access.otp_user.email in response.content.decode()


def test_api_key_secret_is_shown_once_and_never_again(superuser_client, access):
    organization = access.published_application.store.organization
    response = superuser_client.post(
        reverse("admin:otpusers_apikey_add"),
        {
            "organization": organization.pk,
            "name": "CI deploy key",
            "permissions": ["mad.store.otpUsers.get", "mad.store.otpUsers.list"],
            "expires_at_0": "",
            "expires_at_1": "",
        },
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    api_key = ApiKey.objects.get(name="CI deploy key")
    page = response.content.decode()
    token_start = page.index(f'value="{api_key.key_id}.') + len('value="')
    token = page[token_start : page.index('"', token_start)]
    secret = token.split(".", 1)[1]
    assert len(secret) >= 43  # 256 random bits, base64url
    assert api_key.permissions == ["mad.store.otpUsers.get", "mad.store.otpUsers.list"]

    # The key works, and its secret is in no page after the first.
    assert (
        superuser_client.get(
            f"/v1/organizations/{organization.slug}/stores/{access.published_application.store.public_id}/otp-users",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        ).status_code
        == 200
    )
    for url in (
        reverse("admin:otpusers_apikey_changelist"),
        reverse("admin:otpusers_apikey_change", args=[api_key.pk]),
        reverse("admin:otpusers_auditevent_changelist"),
        reverse("admin:otpusers_auditevent_change", args=[AuditEvent.objects.get(action="api_key.create").pk]),
    ):
        body = superuser_client.get(url).content.decode()
        assert secret not in body, url
        assert api_key.secret_sha256 not in body, url
    assert AuditEvent.objects.filter(action="api_key.create", user__username="root").exists()


def test_api_key_permissions_are_chosen_from_the_registry(superuser_client, access):
    response = superuser_client.post(
        reverse("admin:otpusers_apikey_add"),
        {
            "organization": access.published_application.store.organization.pk,
            "name": "bad",
            "permissions": ["root"],
        },
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not ApiKey.objects.filter(name="bad").exists()


def test_revoke_action(superuser_client, access):
    api_key, _ = make_api_key(access.published_application.store.organization)
    superuser_client.post(
        reverse("admin:otpusers_apikey_changelist"), {"action": "revoke", "_selected_action": [api_key.pk]}
    )
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    assert AuditEvent.objects.filter(action="api_key.revoke", object_id=str(api_key.pk)).exists()


def test_app_access_writes_go_through_the_services(superuser_client, access):
    url = reverse("admin:otpusers_appaccess_change", args=[access.pk])
    response = superuser_client.post(url, {"allowed_downloads_num": "9"})
    assert response.status_code == 302, response.content.decode()[:2000]
    access.refresh_from_db()
    assert access.allowed_downloads_num == 9
    assert AuditEvent.objects.get(action="app_access.update").detail == {"allowed_downloads_num": [3, 9]}

    superuser_client.post(reverse("admin:otpusers_appaccess_delete", args=[access.pk]), {"post": "yes"})
    assert not AppAccess.objects.filter(pk=access.pk).exists()
    assert AuditEvent.objects.filter(action="app_access.delete").exists()


def test_app_access_add_goes_through_the_service(superuser_client, access):
    other = OtpUser.objects.create(organization=access.otp_user.organization, email="added@example.com")
    response = superuser_client.post(
        reverse("admin:otpusers_appaccess_add"),
        {
            "otp_user": other.pk,
            "published_application": access.published_application.pk,
            "allowed_downloads_num": "2",
        },
    )
    assert response.status_code == 302
    created = AppAccess.objects.get(otp_user=other)
    assert AuditEvent.objects.filter(action="app_access.create", object_id=created.public_id).exists()


def test_the_person_page_adds_accesses_inline_through_the_service(superuser_client, access):
    person = access.otp_user
    url = reverse("admin:otpusers_otpuser_change", args=[person.pk])
    prefix = "accesses"
    response = superuser_client.post(
        url,
        {
            "organization": person.organization.pk,
            "email": person.email,
            f"{prefix}-TOTAL_FORMS": "1",
            f"{prefix}-INITIAL_FORMS": "1",
            f"{prefix}-0-id": access.pk,
            f"{prefix}-0-otp_user": person.pk,
            f"{prefix}-0-published_application": access.published_application.pk,
            f"{prefix}-0-allowed_downloads_num": "-1",
            "otp_cards-TOTAL_FORMS": "0",
            "otp_cards-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    access.refresh_from_db()
    assert access.allowed_downloads_num == -1
    assert AuditEvent.objects.filter(action="app_access.update").exists()


def test_audit_events_are_read_only(superuser_client, access):
    event = AuditEvent.objects.create(actor_type="system", action="test.event")
    assert superuser_client.get(reverse("admin:otpusers_auditevent_add")).status_code == 403
    response = superuser_client.post(reverse("admin:otpusers_auditevent_change", args=[event.pk]), {"action": "x"})
    assert response.status_code == 403


def test_staff_set_a_key_s_requests_per_minute(superuser_client, access):
    api_key, _ = make_api_key(access.published_application.store.organization, "mad.store.otpUsers.get")
    response = superuser_client.post(
        reverse("admin:otpusers_apikey_change", args=[api_key.pk]),
        {"name": api_key.name, "permissions": api_key.permissions, "requests_per_minute": "120"},
    )
    assert response.status_code == 302
    api_key.refresh_from_db()
    assert api_key.requests_per_minute == 120
    update = AuditEvent.objects.get(action="api_key.update")
    assert (
        update.detail["before"]["requests_per_minute"] is None and update.detail["after"]["requests_per_minute"] == 120
    )
    refused = superuser_client.post(
        reverse("admin:otpusers_apikey_change", args=[api_key.pk]),
        {"name": api_key.name, "permissions": api_key.permissions, "requests_per_minute": "0"},
    )
    assert refused.status_code == 200 and ApiKey.objects.get(pk=api_key.pk).requests_per_minute == 120
