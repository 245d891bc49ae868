"""Staff signed in to the admin use every surface's browsable API with their session (CSRF enforced on
writes), acting for their own organizations only; API clients still get each surface's 401 challenge."""

import json

import pytest
from django.contrib.auth.models import Permission
from django.middleware.csrf import get_token
from django.test import Client

from credentials import services
from otpusers.audit import Actor
from tests.credentials.helpers import issue, last_sms_code
from tests.factories import AppAccessFactory, OrganizationFactory, OtpUserFactory, UserFactory

pytestmark = pytest.mark.django_db

PERMISSIONS = ("view_issuedcode", "add_issuedcode", "verify_issuedcode", "view_otpcard", "view_appaccess")


@pytest.fixture
def organization():
    return OrganizationFactory(ext_id="client-1", code_read_back_allowed=True, resend_cooldown_seconds=0)


@pytest.fixture
def person(organization):
    return OtpUserFactory(organization=organization, mobile="+4915100000001", user_name="jdoe", ext_id="jdoe")


@pytest.fixture
def staff(organization):
    user = UserFactory(username="desk")
    user.user_permissions.add(*Permission.objects.filter(codename__in=PERMISSIONS))
    organization.staff.add(user)
    return user


def signed_in(user, **client_kwargs) -> Client:
    client = Client(**client_kwargs)
    client.force_login(user)
    return client


def test_applivery_answers_a_staff_session_with_data(staff, organization):
    access = AppAccessFactory(published_application__store__organization=organization)
    store = access.published_application.store
    url = f"/v1/organizations/{organization.slug}/stores/{store.public_id}/otp-users"
    response = signed_in(staff).get(url, HTTP_ACCEPT="text/html")
    assert response.status_code == 200 and access.public_id in response.content.decode()


def test_capillary_answers_a_staff_session_with_data(staff, person):
    issue(person)
    query = {"identifierName": "mobile", "identifierValue": person.mobile, "source": "INSTORE", "scope": "GENERIC"}
    response = signed_in(staff).get("/v2/otp", query, HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html") and last_sms_code() in response.content.decode()
    as_json = signed_in(staff).get("/v2/otp", query).json()
    assert as_json["orgId"] == person.organization_id and as_json["code"] == last_sms_code()
    generate_form = signed_in(staff).get("/v2/otp/generate", HTTP_ACCEPT="text/html")
    assert generate_form["Content-Type"].startswith("text/html")
    anonymous = Client().get("/v2/otp", query)
    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"].startswith("Basic")


def test_manage_answers_a_staff_session_with_data_and_enforces_csrf(staff, person, sms_outbox):
    client = signed_in(staff, enforce_csrf_checks=True)
    body = json.dumps({"userName": "jdoe", "phoneNumber": person.mobile, "channel": "sms"})
    refused = client.post("/manage/v2/user/send/otp", body, content_type="application/json")
    assert refused.status_code == 403 and not sms_outbox
    token = get_token(client.get("/admin/").wsgi_request)
    client.cookies["csrftoken"] = token
    sent = client.post("/manage/v2/user/send/otp", body, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert sent.status_code == 200, sent.content
    assert sent.json()["errors"] == [] and len(sms_outbox) == 1
    validated = client.post(
        "/manage/v2/user/validate/otp",
        json.dumps({"userName": "jdoe", "phoneNumber": person.mobile, "otp": last_sms_code()}),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
        HTTP_ACCEPT="text/html",
    )
    assert validated.status_code == 200 and validated["Content-Type"].startswith("text/html")
    assert "jdoe" in validated.content.decode()


def test_nevisidm_answers_a_staff_session_with_data(staff, person):
    card = services.card_create(person=person, ext_id="card-1", actor=Actor.system("tests"))
    url = f"/nevisidm/api/core/v1/{person.organization.ext_id}/users/{person.ext_id}/otp-credentials"
    response = signed_in(staff).get(url, HTTP_ACCEPT="text/html")
    assert response.status_code == 200 and card.ext_id in response.content.decode()


def test_a_session_acts_only_for_its_own_organizations(staff, person):
    other = OrganizationFactory(code_read_back_allowed=True)
    query = {"identifierName": "mobile", "identifierValue": person.mobile, "source": "INSTORE", "scope": "GENERIC"}
    issue(person)
    client = signed_in(staff)
    assert client.get("/v2/otp", {**query, "orgId": other.pk}).status_code == 404
    assert client.get("/v2/otp", {**query, "orgId": person.organization_id}).status_code == 200
    # Staff of two organizations name the one they act for.
    other.staff.add(staff)
    assert client.get("/v2/otp", query).status_code == 403
    assert client.get("/v2/otp", {**query, "orgId": person.organization_id}).status_code == 200
