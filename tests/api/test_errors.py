"""An unexpected failure still answers 500 in the surface's own envelope, and is logged."""

import base64
import logging

import pytest
from rest_framework.test import APIClient

from credentials import services
from tests.factories import AppAccessFactory, OtpUserFactory, make_api_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def broken(monkeypatch):
    def explode(**kwargs):
        raise RuntimeError("the database fell over")

    monkeypatch.setattr(services, "code_verify", explode)
    monkeypatch.setattr(services, "code_check", explode)


def basic(api_key, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{api_key.key_id}:{secret}".encode()).decode()


def test_manage_answers_its_envelope(broken, caplog):
    person = OtpUserFactory(user_name="u", mobile="+1555")
    api_key, token = make_api_key(person.organization, "manage.otp.verify")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=basic(api_key, token.split(".", 1)[1]))
    with caplog.at_level(logging.ERROR, logger="otpsite.api"):
        response = client.post(
            "/manage/v2/user/validate/otp", {"userName": "u", "phoneNumber": "+1555", "otp": "1"}, format="json"
        )
    assert response.status_code == 500
    body = response.json()
    assert body["errors"][0]["errorCode"] == 200001 and body["apiRequestId"] == response["X-Request-ID"]
    assert "the database fell over" in caplog.text


def test_capillary_answers_its_envelope(broken):
    import hashlib

    person = OtpUserFactory(mobile="+1555")
    api_key, token = make_api_key(person.organization, "capillary.otp.write")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=basic(api_key, hashlib.md5(token.split(".", 1)[1].encode()).hexdigest()))
    response = client.post(
        "/v2/otp/validate",
        {"entityType": "MOBILE", "entityValue": "+1555", "code": "1", "action": "GENERIC"},
        format="json",
    )
    assert response.status_code == 500
    assert response.json() == {"errors": [{"status": False, "code": 500, "message": "Internal error"}]}


def test_applivery_answers_its_envelope(monkeypatch):
    from otpusers import services as otpuser_services

    access = AppAccessFactory()
    monkeypatch.setattr(otpuser_services, "app_access_delete", lambda **kwargs: 1 / 0)
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {make_api_key(access.otp_user.organization, 'mad.store.otpUsers.remove')[1]}"
    )
    store = access.published_application.store
    response = client.delete(
        f"/v1/organizations/{store.organization.slug}/stores/{store.public_id}/otp-users/{access.public_id}"
    )
    assert response.status_code == 500
    assert response.json() == {"status": False, "error": {"code": 5000, "message": "Internal server error"}}
