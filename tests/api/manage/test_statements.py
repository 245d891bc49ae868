"""SQL statements per request on the manage surface (transaction control not counted), pinned with the
API-key cache empty (cold) and filled (warm). Budgets from issue 9: validate ≤ 5, send ≤ 7."""

import base64

import pytest
from rest_framework.test import APIClient

from tests.factories import OrganizationFactory, OtpUserFactory, make_api_key
from tests.statements import assert_budgets, recently_used

pytestmark = pytest.mark.django_db

VALIDATE = "/manage/v2/user/validate/otp"
SEND = "/manage/v2/user/send/otp"


@pytest.fixture
def person():
    organization = OrganizationFactory(resend_cooldown_seconds=0, daily_issue_limit=1000)
    return OtpUserFactory(organization=organization, user_name="jdoe", mobile="+14155550100")


@pytest.fixture
def client(person) -> APIClient:
    api_key, token = make_api_key(person.organization, "manage.otp.verify", "manage.otp.send")
    recently_used(api_key)
    client = APIClient()
    login = f"{api_key.key_id}:{token.split('.', 1)[1]}"
    client.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(login.encode()).decode())
    return client


def send(client, person):
    body = {"userName": person.user_name, "phoneNumber": person.mobile, "channel": "sms"}
    return client.post(SEND, body, format="json")


def test_send(person, client, cold_api_key_cache):
    # The second and later sends supersede the outstanding code: the most statements a send runs.
    send(client, person)
    assert_budgets(
        what="manage send",
        prepare=lambda: None,
        request=lambda _: send(client, person),
        cold=6,
        warm=5,
        clear_cache=cold_api_key_cache,
    )


@pytest.mark.parametrize("right", [True, False])
def test_validate(person, client, cold_api_key_cache, right, sms_outbox):
    def prepare():
        send(client, person)
        return sms_outbox[-1].body.split("code is ")[1].split(".")[0] if right else "000000x"

    def validate(code):
        body = {"userName": person.user_name, "phoneNumber": person.mobile, "otp": code}
        return client.post(VALIDATE, body, format="json")

    assert_budgets(
        what="manage validate",
        prepare=prepare,
        request=validate,
        cold=2,
        warm=1,
        clear_cache=cold_api_key_cache,
        expect=(200,) if right else (400,),
    )
