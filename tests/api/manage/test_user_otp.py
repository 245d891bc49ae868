"""The manage (myKaarma) surface, against shared/seeds/003 and reference/manage-api.md: the envelope on every
response, JSON and protobuf with the same values, one answer for every failed validation, and the ladder."""

import base64
import json
import uuid
from collections import Counter

import pytest
from google.protobuf import json_format
from rest_framework.test import APIClient

from credentials.delivery import MemorySmsBackend
from credentials.models import IssuedCode
from otpsite.api.manage import manage_pb2
from otpusers.models import AuditEvent, OtpUser
from tests.concurrency import PARALLEL, run_in_parallel
from tests.delivery import run_worker
from tests.factories import OrganizationFactory, OtpUserFactory, make_api_key

pytestmark = pytest.mark.django_db

VALIDATE = "/manage/v2/user/validate/otp"
SEND = "/manage/v2/user/send/otp"
PROTOBUF = "application/x-protobuf"
USER_FIELDS = {
    "firstName": str,
    "lastName": str,
    "userName": str,
    "email": str,
    "phone": str,
    "textNumber": str,
    "nickName": str,
    "uuid": str,
    "passwordExpires": str,
    "forcePasswordChange": bool,
    "latestInviteStatus": str,
    "latestInviteDate": str,
    "latestInviteUUID": str,
    "isValid": bool,
    "lastLoginTimestamp": str,
    "userRolloutStage": str,
}
MESSAGES = {
    VALIDATE: (manage_pb2.ValidateOtpRequest, manage_pb2.ValidateOtpResponse),
    SEND: (manage_pb2.SendOtpRequest, manage_pb2.SendOtpResponse),
}


def manage_client(organization, *permissions) -> APIClient:
    api_key, token = make_api_key(organization, *permissions)
    client = APIClient()
    login = f"{api_key.key_id}:{token.split('.', 1)[1]}"
    client.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(login.encode()).decode())
    return client


@pytest.fixture
def person():
    organization = OrganizationFactory(resend_cooldown_seconds=0)
    return OtpUserFactory(
        organization=organization,
        user_name="jdoe",
        mobile="+1 (415) 555-0100",
        first_name="Jane",
        last_name="Doe",
        nick_name="JD",
        text_number="+14155550199",
        latest_invite_status="ACCEPTED",
        rollout_stage="GA",
    )


def call(client, url, body, *, as_protobuf=False, accept_protobuf=False, **headers):
    if as_protobuf:
        request_class = MESSAGES[url][0]
        raw = json_format.ParseDict(body, request_class()).SerializeToString() if isinstance(body, dict) else body
        content_type = PROTOBUF
    else:
        raw = body if isinstance(body, (str, bytes)) else json.dumps(body)
        content_type = "application/json"
    if accept_protobuf:
        headers["HTTP_ACCEPT"] = PROTOBUF
    return client.post(url, data=raw, content_type=content_type, **headers)


def decoded(response, url) -> dict:
    """The response body as values, whichever encoding carried it."""
    if response["Content-Type"].startswith(PROTOBUF):
        message = MESSAGES[url][1]()
        message.ParseFromString(response.content)
        return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)
    return response.json()


def send_code(client, person, channel="sms"):
    return call(client, SEND, {"userName": person.user_name, "phoneNumber": person.mobile, "channel": channel})


def last_code() -> str:
    run_worker()
    return MemorySmsBackend.outbox[-1].body.split("code is ")[1].split(".")[0]


def validate_body(person, otp) -> dict:
    # The same number as the person's mobile, written another way.
    phone = "+14155550100" if person.mobile == "+1 (415) 555-0100" else person.mobile
    return {"userName": person.user_name, "phoneNumber": phone, "otp": otp}


def assert_envelope(body: dict, response) -> None:
    assert {"errors", "warnings", "apiRequestId"} <= set(body)
    assert body["warnings"] == []
    assert str(uuid.UUID(body["apiRequestId"])) == body["apiRequestId"] == response["X-Request-ID"]


class TestValidate:
    def test_the_full_user_and_the_login_is_recorded(self, person, clock):
        client = manage_client(person.organization, "manage.otp.verify", "manage.otp.send")
        send_code(client, person)
        response = call(client, VALIDATE, validate_body(person, last_code()), HTTP_CLIENTIP="203.0.113.7")
        assert response.status_code == 200
        body = response.json()
        assert_envelope(body, response)
        assert body["errors"] == []
        user = body["user"]
        assert {name: type(value) for name, value in user.items()} == USER_FIELDS
        person.refresh_from_db()
        assert user["userName"] == "jdoe" and user["firstName"] == "Jane" and user["phone"] == person.mobile
        assert user["uuid"] == str(person.uuid) and user["isValid"] is True
        assert user["latestInviteDate"] == "" and user["latestInviteUUID"] == ""
        assert person.last_login_at == clock.now
        assert (
            user["lastLoginTimestamp"]
            == clock.now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{clock.now.microsecond // 1000:03d}Z"
        )
        event = AuditEvent.objects.get(action="code.verify", outcome="success")
        assert event.request_id == body["apiRequestId"] and event.client_ip == "203.0.113.7"
        assert event.detail["surface"] == "manage" and IssuedCode.objects.get(otp_user=person).surface == "manage"

    def test_json_and_protobuf_answer_the_same_values(self, person, clock):
        client = manage_client(person.organization, "manage.otp.verify", "manage.otp.send")
        answers = []
        for as_protobuf in (False, True):
            send_code(client, person)
            response = call(
                client,
                VALIDATE,
                validate_body(person, last_code()),
                as_protobuf=as_protobuf,
                accept_protobuf=as_protobuf,
            )
            assert response.status_code == 200
            assert response["Content-Type"].startswith(PROTOBUF if as_protobuf else "application/json")
            body = decoded(response, VALIDATE)
            assert_envelope(body, response)
            answers.append({**body, "apiRequestId": None})
        assert answers[0] == answers[1]

    @pytest.mark.parametrize(
        ("make_request", "status", "code"),
        [
            (lambda p: validate_body(p, "000000"), 400, 100006),
            (lambda p: {"userName": p.user_name, "otp": "1"}, 400, 100001),
            (lambda p: {**validate_body(p, "1"), "userName": ""}, 400, 100001),
        ],
        ids=["otp-invalid", "missing-field", "blank-field"],
    )
    def test_errors_are_json_for_either_body_encoding_and_accept(self, person, make_request, status, code):
        client = manage_client(person.organization, "manage.otp.verify")
        answers = []
        for as_protobuf in (False, True):
            response = call(
                client, VALIDATE, make_request(person), as_protobuf=as_protobuf, accept_protobuf=as_protobuf
            )
            assert response.status_code == status
            assert response["Content-Type"] == "application/json"
            body = response.json()
            assert_envelope(body, response)
            assert [error["errorCode"] for error in body["errors"]] == [code]
            answers.append({**body, "apiRequestId": None})
        assert answers[0] == answers[1]

    @pytest.mark.parametrize("accept_protobuf", [False, True])
    def test_auth_errors_are_json_whatever_accept_says(self, person, accept_protobuf):
        for client, status, code in (
            (APIClient(), 401, 100003),
            (manage_client(person.organization, "manage.otp.send"), 403, 100004),
        ):
            response = call(client, VALIDATE, validate_body(person, "1"), accept_protobuf=accept_protobuf)
            assert response.status_code == status and response["Content-Type"] == "application/json"
            body = response.json()
            assert_envelope(body, response)
            assert body["errors"][0]["errorCode"] == code and body["errors"][0]["errorTitle"]

    @pytest.mark.parametrize("accept", [PROTOBUF, f"{PROTOBUF}, application/json;q=0.1", "*/*"])
    def test_every_non_200_answer_is_json(self, person, accept, settings):
        person.organization.daily_issue_limit = 1
        person.organization.save(update_fields=["daily_issue_limit"])
        client = manage_client(person.organization, "manage.otp.verify", "manage.otp.send")
        assert send_code(client, person).status_code == 200
        body = {"userName": person.user_name, "phoneNumber": person.mobile, "channel": "sms"}
        answers = {
            401: call(APIClient(), VALIDATE, validate_body(person, "1"), HTTP_ACCEPT=accept),
            403: call(manage_client(person.organization), SEND, body, HTTP_ACCEPT=accept),
            404: call(client, SEND, {**body, "userName": "nobody"}, HTTP_ACCEPT=accept),
            405: client.get(VALIDATE, HTTP_ACCEPT=accept),
            429: call(client, SEND, body, HTTP_ACCEPT=accept),
        }
        settings.OTPSITE_SMS_BACKEND = ""  # no gateway: 503 at once
        other = OtpUserFactory(organization=person.organization, user_name="other", mobile="+14155550122")
        answers[503] = call(
            client, SEND, {"userName": "other", "phoneNumber": other.mobile, "channel": "sms"}, HTTP_ACCEPT=accept
        )
        answers[400] = call(client, VALIDATE, b"\xff\xff", as_protobuf=True, HTTP_ACCEPT=accept)
        for status, response in answers.items():
            assert response.status_code == status, (status, response.content)
            assert response["Content-Type"] == "application/json", status
            assert_envelope(response.json(), response)
            assert response.json()["errors"][0]["errorCode"] > 0

    def test_an_accept_header_naming_neither_encoding_is_a_json_400(self, person):
        client = manage_client(person.organization, "manage.otp.verify")
        response = call(client, VALIDATE, validate_body(person, "1"), HTTP_ACCEPT="text/html")
        assert response.status_code == 400 and response["Content-Type"] == "application/json"
        assert response.json()["errors"][0]["errorCode"] == 100001

    def test_a_200_still_answers_protobuf_when_accepted(self, person):
        client = manage_client(person.organization, "manage.otp.verify", "manage.otp.send")
        response = call(
            client, SEND, {"userName": "jdoe", "phoneNumber": person.mobile, "channel": "sms"}, accept_protobuf=True
        )
        assert response.status_code == 200 and response["Content-Type"] == PROTOBUF
        assert decoded(response, SEND)["validUntil"]

    def test_every_failed_validation_answers_the_same(self, person, clock):
        client = manage_client(person.organization, "manage.otp.verify", "manage.otp.send")
        other = OtpUserFactory(organization=person.organization, user_name="other", mobile="+14155550111")
        answers = {}

        send_code(client, person)
        right = last_code()
        wrong = "000000" if right != "000000" else "111111"
        answers["wrong"] = call(client, VALIDATE, validate_body(person, wrong))
        answers["phone-of-another-person"] = call(
            client, VALIDATE, {"userName": "jdoe", "phoneNumber": other.mobile, "otp": right}
        )
        answers["unknown-user"] = call(client, VALIDATE, {**validate_body(person, right), "userName": "nobody"})
        call(client, VALIDATE, validate_body(person, right))
        answers["used"] = call(client, VALIDATE, validate_body(person, right))

        send_code(client, person)
        expiring = last_code()
        clock.advance(minutes=11)
        answers["expired"] = call(client, VALIDATE, validate_body(person, expiring))

        send_code(client, person)
        locking = last_code()
        bad = "000000" if locking != "000000" else "111111"
        for _ in range(5):
            call(client, VALIDATE, validate_body(person, bad))
        answers["locked"] = call(client, VALIDATE, validate_body(person, locking))

        clock.advance(minutes=1)
        send_code(client, person)
        deactivated = last_code()
        OtpUser.objects.filter(pk=person.pk).update(is_valid=False)
        answers["deactivated"] = call(client, VALIDATE, validate_body(person, deactivated))

        bodies = {reason: (r.status_code, {**r.json(), "apiRequestId": None}) for reason, r in answers.items()}
        assert len(set(json.dumps(body, sort_keys=True) for body in bodies.values())) == 1, bodies
        assert bodies["wrong"][0] == 400 and bodies["wrong"][1]["errors"][0]["errorCode"] == 100006
        reasons = set(
            AuditEvent.objects.filter(action="code.verify", outcome="failure").values_list("reason", flat=True)
        )
        assert {
            "wrong",
            "identity_mismatch",
            "unknown_recipient",
            "used",
            "expired",
            "locked",
            "person_inactive",
        } <= reasons

    def test_another_organizations_user_is_an_unknown_user(self, person):
        outsider = manage_client(OrganizationFactory(), "manage.otp.verify")
        insider = manage_client(person.organization, "manage.otp.send")
        send_code(insider, person)
        response = call(outsider, VALIDATE, validate_body(person, last_code()))
        assert response.status_code == 400 and response.json()["errors"][0]["errorCode"] == 100006
        assert IssuedCode.objects.get().consumed_at is None


class TestBadInput:
    @pytest.mark.parametrize(
        "body",
        [
            {"userName": 5, "phoneNumber": "1", "otp": "1"},
            {"userName": "a", "phoneNumber": "1", "otp": 123456},
            {"userName": "a", "phoneNumber": "1", "otp": "1", "extra": True},
            {"userName": "a", "phoneNumber": "1" * 40, "otp": "1"},
            "[1, 2]",
            '{"userName": ',
        ],
        ids=["number-name", "number-otp", "unknown-field", "too-long", "not-an-object", "malformed-json"],
    )
    def test_bad_json_bodies(self, person, body):
        response = call(manage_client(person.organization, "manage.otp.verify"), VALIDATE, body)
        assert response.status_code == 400
        assert response.json()["errors"][0]["errorCode"] == 100001
        assert not AuditEvent.objects.filter(action="code.verify").exists()

    @pytest.mark.parametrize("accept_protobuf", [False, True])
    def test_malformed_protobuf_is_400_with_the_envelope(self, person, accept_protobuf):
        client = manage_client(person.organization, "manage.otp.verify")
        response = call(client, VALIDATE, b"\xff\xff\xff\xff", as_protobuf=True, accept_protobuf=accept_protobuf)
        assert response.status_code == 400 and response["Content-Type"] == "application/json"
        body = response.json()
        assert_envelope(body, response)
        assert body["errors"][0]["errorCode"] == 100001

    def test_wrong_content_type(self, person):
        client = manage_client(person.organization, "manage.otp.verify")
        response = client.post(VALIDATE, data="userName=a", content_type="text/plain")
        assert response.status_code == 400 and response.json()["errors"][0]["errorCode"] == 100001

    def test_a_malformed_client_ip(self, person):
        client = manage_client(person.organization, "manage.otp.verify")
        response = call(client, VALIDATE, validate_body(person, "1"), HTTP_CLIENTIP="not-an-ip")
        assert response.status_code == 400 and "clientIp" in response.json()["errors"][0]["errorMessage"]

    def test_the_md5_password_of_capillary_is_not_accepted_here(self, person):
        import hashlib

        api_key, token = make_api_key(person.organization, "manage.otp.verify")
        client = APIClient()
        login = f"{api_key.key_id}:{hashlib.md5(token.split('.', 1)[1].encode()).hexdigest()}"
        client.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(login.encode()).decode())
        assert call(client, VALIDATE, validate_body(person, "1")).status_code == 401

    def test_get_is_not_allowed(self, person):
        response = manage_client(person.organization, "manage.otp.verify").get(VALIDATE)
        assert response.status_code == 405 and response.json()["errors"][0]["errorCode"] == 100007


class TestSend:
    def test_by_sms_and_by_email(self, person, mailoutbox, sms_outbox):
        client = manage_client(person.organization, "manage.otp.send")
        response = send_code(client, person)
        assert response.status_code == 200
        body = response.json()
        assert_envelope(body, response)
        assert body["errors"] == [] and body["validUntil"].endswith("Z")
        run_worker()
        assert sms_outbox[-1].to == person.mobile
        assert send_code(client, person, channel="email").status_code == 200
        run_worker()
        assert mailoutbox[-1].to == [person.email]

    def test_over_the_daily_limit_is_429(self, person):
        person.organization.daily_issue_limit = 1
        person.organization.save()
        client = manage_client(person.organization, "manage.otp.send")
        send_code(client, person)
        response = send_code(client, person)
        assert response.status_code == 429 and response.json()["errors"][0]["errorCode"] == 100009
        assert int(response["Retry-After"]) > 0

    def test_a_channel_without_a_gateway_is_503(self, person, settings):
        settings.OTPSITE_SMS_BACKEND = ""
        response = send_code(manage_client(person.organization, "manage.otp.send"), person)
        assert response.status_code == 503 and response.json()["errors"][0]["errorCode"] == 200002

    @pytest.mark.parametrize(
        "changes", [{"phoneNumber": "+19999999999"}, {"userName": "nobody"}, {"channel": "sms"}], ids=str
    )
    def test_a_user_and_phone_that_do_not_match_is_404(self, person, changes):
        client = manage_client(person.organization, "manage.otp.send")
        if changes == {"channel": "sms"}:
            OtpUser.objects.filter(pk=person.pk).update(is_valid=False)
        body = {"userName": person.user_name, "phoneNumber": person.mobile, "channel": "sms", **changes}
        response = call(client, SEND, body)
        assert response.status_code == 404 and response.json()["errors"][0]["errorCode"] == 100002
        assert not IssuedCode.objects.exists()

    def test_send_in_protobuf(self, person):
        client = manage_client(person.organization, "manage.otp.send")
        body = {"userName": person.user_name, "phoneNumber": person.mobile, "channel": "sms"}
        response = call(client, SEND, body, as_protobuf=True, accept_protobuf=True)
        assert response.status_code == 200
        assert decoded(response, SEND)["validUntil"].endswith("Z")

    def test_an_unknown_channel_is_400(self, person):
        client = manage_client(person.organization, "manage.otp.send")
        response = call(client, SEND, {"userName": "jdoe", "phoneNumber": person.mobile, "channel": "fax"})
        assert response.status_code == 400


def test_the_send_endpoint_is_marked_as_an_extension_in_the_schema(client):
    schema = client.get("/api/schema/?format=json").json()
    assert schema["paths"]["/manage/v2/user/send/otp"]["post"]["x-otpsite-extension"] is True
    assert "x-otpsite-extension" not in schema["paths"]["/manage/v2/user/validate/otp"]["post"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.concurrency
def test_fifty_parallel_validations_of_one_code_succeed_once():
    organization = OrganizationFactory()
    person = OtpUserFactory(organization=organization, user_name="racer", mobile="+14155550123")
    api_key, token = make_api_key(organization, "manage.otp.verify", "manage.otp.send")
    login = "Basic " + base64.b64encode(f"{api_key.key_id}:{token.split('.', 1)[1]}".encode()).decode()
    sender = APIClient()
    sender.credentials(HTTP_AUTHORIZATION=login)
    assert send_code(sender, person).status_code == 200
    code = last_code()

    def validate():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=login)
        return call(client, VALIDATE, validate_body(person, code)).status_code

    assert Counter(run_in_parallel(validate)) == {200: 1, 400: PARALLEL - 1}


def test_a_format_query_parameter_is_ignored_not_an_undocumented_404():
    """Issue 10, finding 7: `?format=junk` answered 404 "No active user..."."""
    person = OtpUserFactory(user_name="u", mobile="+1555", organization__resend_cooldown_seconds=0)
    client = manage_client(person.organization, "manage.otp.send")
    for query in ("?format=junk", "?format=json", "?format=protobuf"):
        response = client.post(
            "/manage/v2/user/send/otp" + query,
            {"userName": "u", "phoneNumber": "+1555", "channel": "sms"},
            format="json",
        )
        assert response.status_code == 200 and response["Content-Type"].startswith("application/json"), query
