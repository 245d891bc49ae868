"""SQL statements per request on the Capillary surface (transaction control not counted), pinned with the
API-key cache empty (cold) and filled (warm). Budgets from issue 9: validate ≤ 5, generate ≤ 7, a single read
≤ 2. Get OTP's and validate's first read is made ahead, in the client limits' statement (counted apart): Get OTP
then writes its audit event, validate its conditional UPDATE with the event."""

import base64
import hashlib

import pytest
from rest_framework.test import APIClient

from credentials.choices import Scope
from tests.credentials.helpers import issue, last_sms_code, person_in
from tests.factories import make_api_key
from tests.statements import assert_budgets, recently_used

pytestmark = pytest.mark.django_db


@pytest.fixture
def person():
    return person_in(code_read_back_allowed=True, resend_cooldown_seconds=0, daily_issue_limit=1000)


@pytest.fixture
def client(person) -> APIClient:
    api_key, token = make_api_key(person.organization, "capillary.otp.read", "capillary.otp.write")
    recently_used(api_key)
    password = hashlib.md5(token.split(".", 1)[1].encode()).hexdigest()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{api_key.key_id}:{password}".encode()).decode())
    return client


def generate_body(person, action="GENERIC") -> dict:
    return {
        "entityType": "MOBILE",
        "entityValue": person.mobile,
        "action": action,
        "channels": [{"type": "SMS", "value": ""}],
    }


def test_get_otp(person, client, cold_api_key_cache):
    issue(person)
    query = {"identifierName": "mobile", "identifierValue": person.mobile, "source": "INSTORE", "scope": "GENERIC"}
    assert_budgets(
        what="Capillary get",
        prepare=lambda: None,
        request=lambda _: client.get("/v2/otp", query),
        cold=2,
        warm=1,
        clear_cache=cold_api_key_cache,
    )


def test_generate_a_first_code(person, client, cold_api_key_cache):
    scopes = iter([Scope.COUPON, Scope.POINTS])
    assert_budgets(
        what="Capillary generate (no outstanding code)",
        prepare=lambda: next(scopes),
        request=lambda scope: client.post("/v2/otp/generate", generate_body(person, scope), format="json"),
        cold=5,
        warm=4,
        clear_cache=cold_api_key_cache,
    )


def test_generate_again_resends_the_outstanding_code(person, client, cold_api_key_cache):
    issue(person)
    assert_budgets(
        what="Capillary generate (resend)",
        prepare=lambda: None,
        request=lambda _: client.post("/v2/otp/generate", generate_body(person), format="json"),
        cold=7,
        warm=6,
        clear_cache=cold_api_key_cache,
    )


def test_generate_supersedes_a_code_it_cannot_read_back(person, client, cold_api_key_cache):
    person.organization.code_read_back_allowed = False
    person.organization.save()
    assert_budgets(
        what="Capillary generate (supersede)",
        prepare=lambda: issue(person),
        request=lambda _: client.post("/v2/otp/generate", generate_body(person), format="json"),
        cold=6,
        warm=5,
        clear_cache=cold_api_key_cache,
    )


@pytest.mark.parametrize("right", [True, False])
def test_validate(person, client, cold_api_key_cache, right):
    def prepare():
        issue(person)
        return last_sms_code() if right else "000000x"

    def validate(code):
        body = {"entityType": "MOBILE", "entityValue": person.mobile, "code": code, "action": "GENERIC"}
        return client.post("/v2/otp/validate", body, format="json")

    assert_budgets(
        what="Capillary validate", prepare=prepare, request=validate, cold=2, warm=1, clear_cache=cold_api_key_cache
    )


def test_validate_for_an_unknown_customer(person, client, cold_api_key_cache):
    body = {"entityType": "MOBILE", "entityValue": "+10000000000", "code": "123456", "action": "GENERIC"}
    assert_budgets(
        what="Capillary validate (unknown customer)",
        prepare=lambda: None,
        request=lambda _: client.post("/v2/otp/validate", body, format="json"),
        cold=2,
        warm=1,
        clear_cache=cold_api_key_cache,
    )


def test_the_input_read_ahead_is_validated_once(person, client, monkeypatch):
    """read_ahead validates the body (or query) it reads ahead for; the action takes that validation for the
    same data instead of running it again."""
    from otpsite.api.capillary import serializers

    runs = []
    for serializer_class in (serializers.ValidateOtpSerializer, serializers.GetOtpQuerySerializer):
        original = serializer_class.run_validation
        monkeypatch.setattr(
            serializer_class,
            "run_validation",
            lambda self, data, original=original: runs.append(type(self).__name__) or original(self, data),
        )
    issue(person)
    body = {"entityType": "MOBILE", "entityValue": person.mobile, "action": "GENERIC", "code": "000000"}
    assert client.post("/v2/otp/validate", body, format="json").status_code == 200
    query = {"identifierName": "mobile", "identifierValue": person.mobile, "source": "INSTORE", "scope": "GENERIC"}
    assert client.get("/v2/otp", query).status_code == 200
    assert runs == ["ValidateOtpSerializer", "GetOtpQuerySerializer"]
