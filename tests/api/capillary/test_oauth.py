"""Capillary OAuth (reference/capillary.md §3): `POST /v3/oauth/token/generate` with an API key's id and
secret, the token in X-CAP-API-OAUTH-TOKEN on the OTP endpoints, its expiry and its key's revocation."""

import json

import jwt
import pytest
from django.conf import settings
from rest_framework.test import APIClient

from credentials.models import IssuedCode
from otpusers import services
from otpusers.audit import Actor
from otpusers.models import AuditEvent
from tests.api.capillary.test_otp import GENERATE, GET_OTP, VALIDATE, generate_body, get_query, validate_body
from tests.credentials.helpers import issue, last_sms_code, person_in
from tests.factories import make_api_key

pytestmark = pytest.mark.django_db

TOKEN_URL = "/v3/oauth/token/generate"
# Capillary's documented sample request body, verbatim: a key otpsite never made.
SAMPLE_TOKEN_REQUEST = """{
  "key": "WnCygRI1Fmlf6YudKwTxQq1LI",
  "secret": "hoqSBz6VwefECaZA8Q3oNx4V4H3pMDITksarZVES"
}"""
BOTH = ("capillary.otp.read", "capillary.otp.write")


@pytest.fixture
def person():
    return person_in(code_read_back_allowed=True, resend_cooldown_seconds=0)


def key_of(organization, *permissions):
    api_key, token = make_api_key(organization, *permissions)
    return api_key, token.split(".", 1)[1]


def generate_token(key_id: str, secret: str, client=None):
    body = json.dumps({"key": key_id, "secret": secret})
    return (client or APIClient()).post(TOKEN_URL, data=body, content_type="application/json")


def token_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_CAP_API_OAUTH_TOKEN=token)
    return client


def access_token(api_key, secret) -> str:
    response = generate_token(api_key.key_id, secret)
    assert response.status_code == 200, response.content
    return response.json()["data"]["accessToken"]


class TestTokenGenerate:
    def test_answers_the_documented_body(self, person, clock):
        api_key, secret = key_of(person.organization, *BOTH)
        response = generate_token(api_key.key_id, secret)
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"data", "errors"} and body["errors"] is None
        assert set(body["data"]) == {"accessToken", "ttlSeconds"}
        assert body["data"]["ttlSeconds"] == 300 and type(body["data"]["ttlSeconds"]) is int
        claims = jwt.decode(
            body["data"]["accessToken"],
            settings.OTPSITE_CAPILLARY_OAUTH_JWT_KEY,
            algorithms=["HS256"],
            issuer="otpsite",
        )
        assert claims["sub"] == api_key.key_id and claims["org_id"] == person.organization.pk
        assert claims["client_id"] == api_key.pk and claims["token_use"] == "token_access"
        assert claims["exp"] - claims["iat"] == 300 and claims["iat"] == int(clock.now.timestamp())
        event = AuditEvent.objects.get(action="api_key.oauth_token")
        assert event.api_key == api_key and event.outcome == "success" and event.detail["jti"] == claims["jti"]

    def test_the_vendors_sample_body_is_a_well_formed_request_for_an_unknown_key(self):
        response = APIClient().post(TOKEN_URL, data=SAMPLE_TOKEN_REQUEST, content_type="application/json")
        assert response.status_code == 401
        body = response.json()
        assert body["data"] is None and [item["code"] for item in body["errors"]] == [401]
        assert body["errors"][0]["status"] is False

    def test_a_wrong_secret_is_401_and_audited(self, person):
        api_key, _ = key_of(person.organization, *BOTH)
        response = generate_token(api_key.key_id, "not-the-secret")
        assert response.status_code == 401 and response.json()["data"] is None
        assert AuditEvent.objects.get(action="api_key.authenticate").reason == "wrong_secret"
        assert not AuditEvent.objects.filter(action="api_key.oauth_token").exists()

    def test_the_md5_of_the_secret_is_not_the_secret(self, person):
        import hashlib

        api_key, secret = key_of(person.organization, *BOTH)
        assert generate_token(api_key.key_id, hashlib.md5(secret.encode()).hexdigest()).status_code == 401

    def test_a_revoked_key_gets_no_token(self, person):
        api_key, secret = key_of(person.organization, *BOTH)
        services.api_key_revoke(api_key=api_key, actor=Actor.system("tests"))
        assert generate_token(api_key.key_id, secret).status_code == 401

    @pytest.mark.parametrize(
        "body",
        [
            "{",
            "[]",
            '{"key": "abc"}',
            '{"secret": "abc"}',
            '{"key": 12, "secret": "abc"}',
            '{"key": "abc", "secret": "abc", "grant_type": "x"}',
        ],
    )
    def test_bad_bodies_are_400(self, body):
        response = APIClient().post(TOKEN_URL, data=body, content_type="application/json")
        assert response.status_code == 400
        assert response.json()["data"] is None and response.json()["errors"][0]["code"] == 400
        assert not AuditEvent.objects.exists()

    def test_get_is_405(self):
        response = APIClient().get(TOKEN_URL)
        assert response.status_code == 405 and response.json()["errors"][0]["code"] == 405

    def test_switched_off_without_a_signing_key(self, person, settings):
        api_key, secret = key_of(person.organization, *BOTH)
        token = access_token(api_key, secret)
        settings.OTPSITE_CAPILLARY_OAUTH_JWT_KEY = ""
        assert generate_token(api_key.key_id, secret).status_code == 401
        assert token_client(token).get(GET_OTP, get_query(person)).status_code == 401


class TestTokenUse:
    def test_generate_get_and_validate_with_a_token(self, person):
        api_key, secret = key_of(person.organization, *BOTH)
        client = token_client(access_token(api_key, secret))
        generated = client.post(GENERATE, data=json.dumps(generate_body(person)), content_type="application/json")
        assert generated.status_code == 200, generated.content
        code = last_sms_code()
        assert client.get(GET_OTP, get_query(person)).json()["code"] == code
        validated = client.post(VALIDATE, data=json.dumps(validate_body(person, code)), content_type="application/json")
        assert validated.json() == {"entity": True, "warnings": []}
        issue_event = AuditEvent.objects.get(action="code.issue")
        assert issue_event.api_key == api_key and issue_event.actor_type == "api_key"

    def test_the_token_has_the_keys_permissions_as_they_are_now(self, person):
        api_key, secret = key_of(person.organization, "capillary.otp.write")
        client = token_client(access_token(api_key, secret))
        assert client.get(GET_OTP, get_query(person)).status_code == 403
        services.api_key_update(
            api_key=api_key, name=api_key.name, permissions=list(BOTH), expires_at=None, actor=Actor.system("tests")
        )
        issue(person)
        assert client.get(GET_OTP, get_query(person)).status_code == 200

    def test_refused_once_expired(self, person, clock):
        api_key, secret = key_of(person.organization, *BOTH)
        issue(person)
        client = token_client(access_token(api_key, secret))
        clock.advance(seconds=299)
        assert client.get(GET_OTP, get_query(person)).status_code == 200
        clock.advance(seconds=1)
        response = client.get(GET_OTP, get_query(person))
        assert response.status_code == 401
        assert [item["code"] for item in response.json()["errors"]] == [401]
        assert AuditEvent.objects.get(action="api_key.oauth_authenticate").reason == "oauth_token_expired"

    def test_refused_once_the_key_is_revoked(self, person):
        api_key, secret = key_of(person.organization, *BOTH)
        client = token_client(access_token(api_key, secret))
        services.api_key_revoke(api_key=api_key, actor=Actor.system("tests"))
        response = client.post(GENERATE, data=json.dumps(generate_body(person)), content_type="application/json")
        assert response.status_code == 401
        assert not IssuedCode.objects.exists()
        event = AuditEvent.objects.get(action="api_key.oauth_authenticate")
        assert (event.reason, event.api_key) == ("revoked", api_key)

    def test_refused_once_the_key_has_a_new_secret(self, person):
        api_key, secret = key_of(person.organization, *BOTH)
        client = token_client(access_token(api_key, secret))
        services.api_key_rotate(api_key=api_key, actor=Actor.system("tests"))
        assert client.get(GET_OTP, get_query(person)).status_code == 401
        assert AuditEvent.objects.get(action="api_key.oauth_authenticate").reason == "oauth_token_superseded"

    @pytest.mark.parametrize("forge", ["other-key", "none", "garbage"])
    def test_a_token_this_server_did_not_sign_is_401_and_not_audited(self, person, forge):
        api_key, _ = key_of(person.organization, *BOTH)
        claims = {"iss": "otpsite", "sub": api_key.key_id, "iat": 0, "exp": 4_000_000_000, "kfp": "x"}
        claims["token_use"] = "token_access"
        token = {
            "other-key": jwt.encode(claims, "another-signing-key-of-at-least-32-bytes", algorithm="HS256"),
            "none": jwt.encode(claims, None, algorithm="none"),
            "garbage": "not.a.token",
        }[forge]
        response = token_client(token).get(GET_OTP, get_query(person))
        assert response.status_code == 401
        assert not AuditEvent.objects.filter(action="api_key.oauth_authenticate").exists()

    def test_another_organizations_customer_is_like_a_missing_one(self, person):
        outsider = person_in(code_read_back_allowed=True)
        issue(person)
        api_key, secret = key_of(outsider.organization, *BOTH)
        client = token_client(access_token(api_key, secret))
        response = client.get(GET_OTP, get_query(person))
        missing = client.get(GET_OTP, get_query(person, identifierValue="+10000000009"))
        assert (
            (response.status_code, response.json())
            == (missing.status_code, missing.json())
            == (
                404,
                {"errors": [{"status": False, "code": 9001, "message": "No valid OTP found."}]},
            )
        )
