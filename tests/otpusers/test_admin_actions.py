"""Actions on an object's own page: each asks what it needs, goes through the same service as the API,
is audited, and answers another organization's object as missing."""

import base64
import hashlib

import pytest
from django.urls import reverse

from otpusers.models import ApiKey, AppAccess, AuditEvent, OtpUser
from tests.factories import AppAccessFactory, make_api_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def access():
    return AppAccessFactory(downloads_used=2)


def test_deactivate_asks_a_reason_then_switches_the_person_off(superuser_client, access):
    person = access.otp_user
    url = reverse("admin:otpusers_otpuser_deactivate", args=[person.pk])
    change_page = superuser_client.get(reverse("admin:otpusers_otpuser_change", args=[person.pk])).content.decode()
    assert url in change_page
    asked = superuser_client.post(url, {})
    assert asked.status_code == 200 and "This field is required" in asked.content.decode()
    assert OtpUser.objects.get(pk=person.pk).is_valid
    done = superuser_client.post(url, {"reason": "left the company"})
    assert done.status_code == 302
    assert not OtpUser.objects.get(pk=person.pk).is_valid
    event = AuditEvent.objects.get(action="otp_user.deactivate")
    assert (event.reason, event.user.username, event.object_id) == ("left the company", "root", str(person.pk))


def test_reset_downloads_and_set_unlimited(superuser_client, access):
    reset = reverse("admin:otpusers_appaccess_reset_downloads", args=[access.pk])
    assert superuser_client.get(reset).status_code == 200
    superuser_client.post(reset, {"reason": "new build"})
    assert AppAccess.objects.get(pk=access.pk).downloads_used == 0
    assert AuditEvent.objects.get(action="app_access.reset_downloads").detail == {"downloads_used": [2, 0]}

    unlimited = reverse("admin:otpusers_appaccess_set_unlimited", args=[access.pk])
    assert superuser_client.get(unlimited).status_code == 200
    assert AppAccess.objects.get(pk=access.pk).allowed_downloads_num == 3
    superuser_client.post(unlimited, {"apply": "yes"})
    assert AppAccess.objects.get(pk=access.pk).allowed_downloads_num == -1
    assert AuditEvent.objects.get(action="app_access.update").detail == {"allowed_downloads_num": [3, -1]}
    assert "Unlimited" in superuser_client.get(reverse("admin:otpusers_appaccess_changelist")).content.decode()


def test_rotate_shows_the_new_secret_once_and_refuses_the_old_one_at_once(superuser_client, access, client):
    organization = access.published_application.store.organization
    store = access.published_application.store
    api_key, old_token = make_api_key(organization, "mad.store.otpUsers.list")
    otp_users = f"/v1/organizations/{organization.slug}/stores/{store.public_id}/otp-users"
    assert client.get(otp_users, HTTP_AUTHORIZATION=f"Bearer {old_token}").status_code == 200

    url = reverse("admin:otpusers_apikey_rotate", args=[api_key.pk])
    confirm = superuser_client.get(url)
    assert confirm.status_code == 200 and "stops working at once" in confirm.content.decode()
    assert ApiKey.objects.get(pk=api_key.pk).secret_sha256 == api_key.secret_sha256
    shown = superuser_client.post(url, {"apply": "yes"})
    assert shown.status_code == 200 and "no-store" in shown["Cache-Control"]
    new_token = shown.context["token"]
    assert new_token != old_token and new_token in shown.content.decode()

    assert client.get(otp_users, HTTP_AUTHORIZATION=f"Bearer {old_token}").status_code == 401
    assert client.get(otp_users, HTTP_AUTHORIZATION=f"Bearer {new_token}").status_code == 200
    assert AuditEvent.objects.filter(action="api_key.rotate", user__username="root").exists()
    secret = new_token.split(".", 1)[1]
    for page in (
        reverse("admin:otpusers_apikey_change", args=[api_key.pk]),
        reverse("admin:otpusers_auditevent_changelist"),
    ):
        assert secret not in superuser_client.get(page).content.decode()


def test_the_secret_page_gives_each_surfaces_exact_credential(superuser_client, access):
    organization = access.published_application.store.organization
    response = superuser_client.post(
        reverse("admin:otpusers_apikey_add"),
        {"organization": organization.pk, "name": "till", "permissions": ["capillary.otp.write", "manage.otp.verify"]},
    )
    api_key = ApiKey.objects.get(name="till")
    secret = response.context["token"].split(".", 1)[1]
    by_surface = {credential.surface: credential for credential in response.context["credentials"]}
    assert set(by_surface) == {"Capillary", "myKaarma manage"}
    md5 = hashlib.md5(secret.encode()).hexdigest()
    capillary = by_surface["Capillary"]
    assert (capillary.user_name, capillary.password) == (api_key.key_id, md5)
    assert capillary.header == "Basic " + base64.b64encode(f"{api_key.key_id}:{md5}".encode()).decode()
    assert by_surface["myKaarma manage"].password == secret
    body = response.content.decode()
    assert "Bearer" not in body  # a Capillary/manage key is never told to send a Bearer token


def test_revoke_from_the_key_page(superuser_client, access):
    api_key, _ = make_api_key(access.published_application.store.organization)
    url = reverse("admin:otpusers_apikey_revoke_key", args=[api_key.pk])
    assert superuser_client.get(url).status_code == 200
    assert ApiKey.objects.get(pk=api_key.pk).revoked_at is None
    superuser_client.post(url, {"apply": "yes"})
    assert ApiKey.objects.get(pk=api_key.pk).revoked_at is not None
    assert AuditEvent.objects.filter(action="api_key.revoke").count() == 1


def test_object_actions_answer_another_organizations_object_as_missing(client, access):
    from django.contrib.auth.models import Permission

    from tests.factories import OrganizationFactory, UserFactory

    user = UserFactory(username="other-staff")
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="otpusers"))
    OrganizationFactory().staff.add(user)
    client.force_login(user)
    api_key, _ = make_api_key(access.published_application.store.organization)
    for url in (
        reverse("admin:otpusers_apikey_rotate", args=[api_key.pk]),
        reverse("admin:otpusers_apikey_revoke_key", args=[api_key.pk]),
        reverse("admin:otpusers_otpuser_deactivate", args=[access.otp_user.pk]),
        reverse("admin:otpusers_appaccess_reset_downloads", args=[access.pk]),
    ):
        assert client.post(url, {"apply": "yes", "reason": "x"}).status_code == 404, url
    assert ApiKey.objects.get(pk=api_key.pk).revoked_at is None
    assert OtpUser.objects.get(pk=access.otp_user.pk).is_valid
