"""The Capillary v2 OTP surface (shared/seeds/002 and reference/capillary.md): Basic auth with the MD5 of
the secret, flat bodies with warnings, the errors envelope and its codes, and tenant isolation."""

import base64
import hashlib
import json
import re

import pytest
from rest_framework.test import APIClient

from credentials.choices import Scope
from credentials.delivery import MemorySmsBackend
from credentials.models import IssuedCode
from otpusers.models import AuditEvent, OtpUser
from tests.credentials.helpers import issue, last_sms_code, person_in
from tests.delivery import queued, run_worker
from tests.factories import OrganizationFactory, OtpUserFactory, make_api_key

pytestmark = pytest.mark.django_db

GET_OTP = "/v2/otp"
GENERATE = "/v2/otp/generate"
VALIDATE = "/v2/otp/validate"
BOTH = ("capillary.otp.read", "capillary.otp.write")


# Capillary's GitHub sample for generate (Capillary/api-documentation source/includes/_otp.md, its latest
# revision: SMS + EMAIL + PHONE), verbatim, tab included.
SAMPLE_GENERATE_WITH_PHONE = """{
   "entityType":"email",
   "entityValue":"tom.sawyer@example.com",
   "action":"REGISTRATION",
   "template":"Hi user.Your OTP for validation is {{ validation_code }}.Enjoy",
   "emailTemplate":{
      "subject":"Validation Code",
      "body":"Dear Customer, The validation code for your request is: {{ validation_code }}. You will also receive the validation code by SMS on your registered mobile number shortly."
   },
   "channels":[
      {
         "type":"SMS",
         "value":"9191919191"
      },
      {
         "type":"EMAIL",
         "value":"tom.sawyer@example.com"
      },
\t  {
         "type":"PHONE",
         "value":"9191919191"
      }
   ]
}"""  # noqa: E501 (verbatim)

# The same sample as Capillary/ecom-api-document source/includes/_otp.md has it (SMS + EMAIL), verbatim.
SAMPLE_GENERATE = """{
   "entityType":"email",
   "entityValue":"tom.sawyer@example.com",
   "action":"REGISTRATION",
   "template":"Hi user.Your OTP for validation is {{ validation_code }}.Enjoy",
   "emailTemplate":{
      "subject":"Validation Code",
      "body":"Dear Customer, The validation code for your request is: {{ validation_code }}. You will also receive the validation code by SMS on your registered mobile number shortly."
   },
   "channels":[
      {
         "type":"SMS",
         "value":"9191919191"
      },
      {
         "type":"EMAIL",
         "value":"tom.sawyer@example.com"
      }
   ]
}"""  # noqa: E501 (verbatim)


def capillary_client(organization, *permissions, **headers) -> APIClient:
    api_key, token = make_api_key(organization, *permissions)
    secret = token.split(".", 1)[1]
    credentials = f"{api_key.key_id}:{hashlib.md5(secret.encode()).hexdigest()}"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(credentials.encode()).decode(), **headers)
    return client


@pytest.fixture
def person():
    return person_in(code_read_back_allowed=True, resend_cooldown_seconds=0)


def get_query(person, **changes) -> dict:
    return {
        "identifierName": "mobile",
        "identifierValue": person.mobile,
        "source": "INSTORE",
        "scope": "GENERIC",
        "threshold": 600,
        **changes,
    }


def generate_body(person, **changes) -> dict:
    return {
        "entityType": "MOBILE",
        "entityValue": person.mobile,
        "action": "GENERIC",
        "channels": [{"type": "SMS", "value": person.mobile}],
        **changes,
    }


def validate_body(person, code, **changes) -> dict:
    return {
        "entityType": "mobile",
        "entityValue": person.mobile,
        "code": code,
        "action": "GENERIC",
        **changes,
    }


def post(client, url, body):
    raw = body if isinstance(body, str) else json.dumps(body)
    return client.post(url, data=raw, content_type="application/json")


def codes_of(response) -> list[int]:
    body = response.json()
    assert set(body) == {"errors"}
    for item in body["errors"]:
        assert item["status"] is False and isinstance(item["message"], str) and item["message"]
    return [item["code"] for item in body["errors"]]


ENDPOINTS = [
    ("get", "capillary.otp.read", lambda p: (GET_OTP, get_query(p))),
    ("generate", "capillary.otp.write", lambda p: (GENERATE, generate_body(p))),
    ("validate", "capillary.otp.write", lambda p: (VALIDATE, validate_body(p, "123456"))),
]


def send(client, name, url, payload):
    if name == "get":
        return client.get(url, payload)
    return post(client, url, payload)


class TestPermissionLadder:
    @pytest.mark.parametrize(("name", "permission", "request_for"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
    def test_anonymous_is_401(self, person, name, permission, request_for):
        response = send(APIClient(), name, *request_for(person))
        assert response.status_code == 401
        assert codes_of(response) == [401]
        assert response["WWW-Authenticate"].startswith("Basic")

    @pytest.mark.parametrize(
        "header",
        [
            "Basic " + base64.b64encode(b"0123456789abcdef:" + b"0" * 32).decode(),
            "Basic not-base64!",
            "Basic " + base64.b64encode(b"no-colon").decode(),
            "Bearer whatever",
        ],
    )
    def test_bad_credentials_are_401(self, person, header):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=header)
        assert client.get(GET_OTP, get_query(person)).status_code == 401

    def test_the_plain_secret_is_not_accepted_as_the_password(self, person):
        api_key, token = make_api_key(person.organization, *BOTH)
        client = APIClient()
        plain = f"{api_key.key_id}:{token.split('.', 1)[1]}"
        client.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(plain.encode()).decode())
        assert client.get(GET_OTP, get_query(person)).status_code == 401

    @pytest.mark.parametrize(("name", "permission", "request_for"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
    def test_a_key_without_the_permission_is_403(self, person, name, permission, request_for):
        other = [p for p in BOTH if p != permission] + ["mad.store.otpUsers.get"]
        response = send(capillary_client(person.organization, *other), name, *request_for(person))
        assert response.status_code == 403
        assert codes_of(response) == [403]
        assert not IssuedCode.objects.exists()

    @pytest.mark.parametrize(("name", "permission", "request_for"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
    def test_another_organizations_customer_is_like_a_missing_one(self, person, name, permission, request_for):
        outsider = OrganizationFactory(code_read_back_allowed=True)
        issue(person)
        url, payload = request_for(person)
        response = send(capillary_client(outsider, *BOTH), name, url, payload)
        missing_url, missing_payload = request_for(OtpUserFactory.build(mobile="+4900000000"))
        missing = send(capillary_client(outsider, *BOTH), name, missing_url, missing_payload)
        assert (response.status_code, response.json()) == (missing.status_code, missing.json())
        assert response.status_code in (200, 400, 404)
        assert IssuedCode.objects.count() == 1

    def test_the_trailing_slash_is_accepted(self, person):
        client = capillary_client(person.organization, *BOTH)
        assert post(client, GENERATE + "/", generate_body(person)).status_code == 200


class TestGetOtp:
    def test_returns_the_most_recent_valid_code_as_the_seed_documents(self, person, clock):
        client = capillary_client(person.organization, "capillary.otp.read")
        issue(person, scope=Scope.POINTS)
        clock.advance(seconds=5)
        latest = issue(person, scope=Scope.POINTS).code
        response = client.get(GET_OTP, get_query(person, scope="POINTS", threshold=60))
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"orgId", "userId", "code", "validUpto", "warnings"}
        assert body["orgId"] == person.organization.pk and type(body["orgId"]) is int
        assert body["userId"] == person.pk and type(body["userId"]) is int
        assert body["code"] == last_sms_code()
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", body["validUpto"])
        assert body["validUpto"] == latest.valid_until.replace(microsecond=0).isoformat()
        assert body["warnings"] == []
        event = AuditEvent.objects.get(action="code.read_back", outcome="success")
        assert event.api_key is not None and event.object_id == latest.public_id

    def test_9001_when_nothing_is_valid_within_the_threshold(self, person, clock):
        client = capillary_client(person.organization, "capillary.otp.read")
        issue(person)
        clock.advance(seconds=120)
        response = client.get(GET_OTP, get_query(person, threshold=60))
        assert response.status_code == 404
        assert response.json() == {"errors": [{"status": False, "code": 9001, "message": "No valid OTP found."}]}
        assert AuditEvent.objects.get(action="code.read_back").reason == "no_valid_code"

    def test_9001_for_a_used_code(self, person):
        client = capillary_client(person.organization, *BOTH)
        issue(person)
        assert post(client, VALIDATE, validate_body(person, last_sms_code())).json()["entity"] is True
        assert codes_of(client.get(GET_OTP, get_query(person))) == [9001]

    def test_refused_when_the_organization_disallows_read_back(self):
        person = person_in(code_read_back_allowed=False)
        issue(person)
        response = capillary_client(person.organization, "capillary.otp.read").get(GET_OTP, get_query(person))
        assert response.status_code == 403
        assert codes_of(response) == [9002]
        assert AuditEvent.objects.get(action="code.read_back").reason == "read_back_disabled"

    @pytest.mark.parametrize(
        ("changes", "code"),
        [
            ({"identifierName": "phone"}, 601),
            ({"identifierValue": ""}, 602),
            ({"scope": "EVERYTHING"}, 600),
            ({"scope": "STORE_LOGIN"}, 600),
            ({"source": "SPACE"}, 400),
            ({"threshold": "soon"}, 400),
            ({"threshold": 0}, 400),
            ({"threshold": 86_401}, 400),
        ],
    )
    def test_bad_parameters(self, person, changes, code):
        client = capillary_client(person.organization, "capillary.otp.read")
        response = client.get(GET_OTP, get_query(person, **changes))
        assert response.status_code == 400
        assert codes_of(response) == [code]
        assert not AuditEvent.objects.filter(action="code.read_back").exists()

    @pytest.mark.parametrize("missing", ["identifierName", "identifierValue", "source", "scope"])
    def test_missing_parameters(self, person, missing):
        query = get_query(person)
        del query[missing]
        response = capillary_client(person.organization, "capillary.otp.read").get(GET_OTP, query)
        assert response.status_code == 400 and len(codes_of(response)) == 1


class TestGenerate:
    def test_issues_and_sends_a_code(self, person, sms_outbox):
        client = capillary_client(person.organization, "capillary.otp.write")
        response = post(client, GENERATE + "?format=json", generate_body(person, entityType="mobile"))
        assert response.status_code == 200
        issued = IssuedCode.objects.get(otp_user=person)
        assert response.json() == {"createdId": issued.pk + 1, "warnings": []}
        run_worker()
        assert sms_outbox[-1].to == person.mobile

    def test_the_vendors_sample_body_verbatim(self, mailoutbox, sms_outbox):
        organization = OrganizationFactory(code_read_back_allowed=True)
        OtpUserFactory(organization=organization, email="tom.sawyer@example.com", mobile="9191919191")
        response = post(
            capillary_client(organization, "capillary.otp.write"), GENERATE + "?format=json", SAMPLE_GENERATE
        )
        assert response.status_code == 200, response.content
        body = response.json()
        assert set(body) == {"createdId", "warnings"} and body["warnings"] == []
        assert type(body["createdId"]) is int and body["createdId"] != 1
        code = IssuedCode.objects.get()
        assert code.scope == "REGISTRATION" and sorted(code.channels) == ["EMAIL", "SMS"]
        assert sms_outbox[-1].to == "9191919191" and sms_outbox[-1].body.startswith(
            "Hi user.Your OTP for validation is "
        )
        assert mailoutbox[-1].to == ["tom.sawyer@example.com"] and mailoutbox[-1].subject == "Validation Code"

    def test_the_vendors_sample_with_phone_reaches_every_channel(self, mailoutbox, sms_outbox):
        organization = OrganizationFactory()
        OtpUserFactory(organization=organization, email="tom.sawyer@example.com", mobile="9191919191")
        client = capillary_client(organization, "capillary.otp.write")
        response = post(client, GENERATE + "?format=json", SAMPLE_GENERATE_WITH_PHONE)
        assert response.status_code == 200, response.content
        body = response.json()
        assert set(body) == {"createdId", "warnings"} and body["warnings"] == []
        assert type(body["createdId"]) is int and body["createdId"] != 1
        sms, voice = sms_outbox
        assert (sms.channel, sms.to, sms.speak) == ("SMS", "9191919191", False)
        code = sms.body.removeprefix("Hi user.Your OTP for validation is ").removesuffix(".Enjoy")
        assert (voice.channel, voice.to, voice.speak) == ("VOICE", "9191919191", True)
        assert ", ".join(code) in voice.body
        assert code in mailoutbox[-1].body and mailoutbox[-1].to == ["tom.sawyer@example.com"]
        assert sorted(IssuedCode.objects.get().channels) == ["EMAIL", "SMS", "VOICE"]

    @pytest.mark.parametrize(
        ("channel", "extra", "sent_on", "template"),
        [
            ("whatsapp", {"whatsappTemplateName": "otp_template"}, "WHATSAPP", "otp_template"),
            ("WHATSAPP", {"whatsappTemplateName": "otp_template"}, "WHATSAPP", "otp_template"),
            ("ZALO", {"zaloTemplateIdentifier": "zalo-7"}, "ZALO", "zalo-7"),
            ("MOBILE", {}, "VOICE", ""),
        ],
    )
    def test_the_other_documented_channels(self, person, sms_outbox, channel, extra, sent_on, template):
        client = capillary_client(person.organization, "capillary.otp.write")
        body = generate_body(person, channels=[{"type": channel, "value": person.mobile}], **extra)
        assert post(client, GENERATE, body).status_code == 200
        [message] = sms_outbox
        assert (message.channel, message.to, message.template) == (sent_on, person.mobile, template)
        assert message.speak is (sent_on == "VOICE")

    @pytest.mark.parametrize(("channel", "setting"), [("PHONE", "VOICE"), ("whatsapp", "WHATSAPP"), ("ZALO", "ZALO")])
    def test_a_channel_without_a_gateway_is_603_naming_it(self, person, settings, sms_outbox, channel, setting):
        setattr(settings, f"OTPSITE_{setting}_BACKEND", "")
        body = generate_body(
            person,
            channels=[{"type": "SMS"}, {"type": channel}],
            whatsappTemplateName="t",
            zaloTemplateIdentifier="t",
        )
        response = post(capillary_client(person.organization, "capillary.otp.write"), GENERATE, body)
        assert response.status_code == 400 and codes_of(response) == [603]
        assert setting in response.json()["errors"][0]["message"]
        assert not IssuedCode.objects.exists() and sms_outbox == []

    @pytest.mark.django_db(reset_sequences=True)
    def test_the_first_code_of_a_database_does_not_answer_created_id_1(self, person):
        response = post(capillary_client(person.organization, "capillary.otp.write"), GENERATE, generate_body(person))
        assert IssuedCode.objects.get().pk == 1
        assert response.json() == {"createdId": 2, "warnings": []}

    def test_generate_twice_inside_the_cooldown_resends_the_same_code(self, clock, sms_outbox):
        person = person_in(code_read_back_allowed=True, resend_cooldown_seconds=30, daily_issue_limit=2)
        client = capillary_client(person.organization, "capillary.otp.write")
        first = post(client, GENERATE, generate_body(person))
        assert first.json()["createdId"] != 1
        code = last_sms_code()
        clock.advance(seconds=5)
        again = post(client, GENERATE, generate_body(person))
        assert (again.status_code, again.json()) == (200, {"createdId": 1, "warnings": []})
        assert len(sms_outbox) == 2 and last_sms_code() == code
        assert IssuedCode.objects.get().send_count == 2
        # Each send counts against the daily limit, re-sends included.
        refused = post(client, GENERATE, generate_body(person))
        assert refused.status_code == 429 and codes_of(refused) == [429] and len(sms_outbox) == 2

    @pytest.mark.parametrize("action", ["COUPONS", "COUPON"])
    def test_coupons_is_an_alias_of_coupon(self, person, action):
        client = capillary_client(person.organization, *BOTH)
        assert post(client, GENERATE, generate_body(person, action=action)).status_code == 200
        assert IssuedCode.objects.get().scope == "COUPON"
        code = last_sms_code()
        read = client.get(GET_OTP, get_query(person, scope=action))
        assert read.status_code == 200 and read.json()["code"] == code
        assert post(client, VALIDATE, validate_body(person, code, action=action)).json()["entity"] is True

    def test_a_still_valid_code_is_sent_again_with_created_id_1(self, person, sms_outbox):
        client = capillary_client(person.organization, "capillary.otp.write")
        post(client, GENERATE, generate_body(person))
        first = last_sms_code()
        response = post(client, GENERATE, generate_body(person))
        assert response.json() == {"createdId": 1, "warnings": []}
        assert last_sms_code() == first and IssuedCode.objects.count() == 1

    def test_templates_and_email_channels(self, person, mailoutbox):
        client = capillary_client(person.organization, "capillary.otp.write")
        body = generate_body(
            person,
            template="Acme: {{ validation_code }} is your code",
            emailTemplate={"subject": "Acme code", "body": "Use {{validation_code}} now"},
            channels=[{"type": "BOTH"}],
        )
        assert post(client, GENERATE, body).status_code == 200
        run_worker()
        assert MemorySmsBackend.outbox[-1].body.startswith("Acme: ")
        assert mailoutbox[-1].subject == "Acme code" and mailoutbox[-1].to == [person.email]

    @pytest.mark.parametrize(
        "changes",
        [
            {"emailTemplate": {"subject": "Acme\r\nBcc: x@example.com", "body": "{{ validation_code }}"}},
            {"template": "Acme: your code is ready"},
        ],
        ids=["CRLF subject", "template without the code"],
    )
    def test_a_template_that_cannot_carry_the_code_issues_and_counts_nothing(self, changes, mailoutbox, sms_outbox):
        """Issue 10, finding 10: these answered 503 606 after issuing and counting a code, or sent an SMS
        without the code."""
        person = person_in(daily_issue_limit=1, resend_cooldown_seconds=0)
        OtpUser.objects.filter(pk=person.pk).update(email="jane@example.com")
        client = capillary_client(person.organization, "capillary.otp.write")
        audit_events = AuditEvent.objects.count()
        response = post(client, GENERATE, generate_body(person, channels=[{"type": "BOTH"}], **changes))
        assert response.status_code == 400 and codes_of(response) == [608]
        assert not IssuedCode.objects.exists() and not mailoutbox and not sms_outbox
        assert AuditEvent.objects.count() == audit_events
        # The daily limit of one is still whole.
        assert post(client, GENERATE, generate_body(person)).status_code == 200

    def test_429_with_retry_after_over_the_daily_limit(self):
        person = person_in(daily_issue_limit=2, resend_cooldown_seconds=0)
        client = capillary_client(person.organization, "capillary.otp.write")
        for _ in range(2):
            assert post(client, GENERATE, generate_body(person)).status_code == 200
        response = post(client, GENERATE, generate_body(person))
        assert response.status_code == 429
        assert codes_of(response) == [429]
        assert int(response["Retry-After"]) > 0
        assert IssuedCode.objects.count() == 2

    def test_429_inside_the_cooldown(self, clock):
        person = person_in(resend_cooldown_seconds=60)
        client = capillary_client(person.organization, "capillary.otp.write")
        post(client, GENERATE, generate_body(person))
        response = post(client, GENERATE, generate_body(person))
        assert response.status_code == 429 and response["Retry-After"] == "60"

    def test_a_failing_gateway_does_not_hold_the_answer(self, person, sms_outbox):
        MemorySmsBackend.fail_next = 3
        response = post(capillary_client(person.organization, "capillary.otp.write"), GENERATE, generate_body(person))
        assert response.status_code == 200 and queued() == 1
        run_worker()
        assert IssuedCode.objects.get().delivery_status == "pending" and not sms_outbox

    def test_an_unknown_customer_is_602(self, person):
        client = capillary_client(person.organization, "capillary.otp.write")
        response = post(client, GENERATE, generate_body(person, entityValue="+10000000001"))
        assert response.status_code == 400 and codes_of(response) == [602]

    @pytest.mark.parametrize(
        ("changes", "codes"),
        [
            ({"action": "NOPE"}, [600]),
            ({"action": None}, [600]),
            ({"entityType": "FAX"}, [601]),
            ({"entityType": 7}, [601]),
            ({"entityValue": 12345}, [602]),
            ({"channels": []}, [603]),
            ({"channels": [{"type": "WHATSAPP", "value": "x"}]}, [607]),
            ({"channels": [{"type": "zalo"}], "zaloTemplateIdentifier": " "}, [621]),
            ({"channels": [{"type": "FAX", "value": "x"}]}, [603]),
            ({"channels": "SMS"}, [603]),
            ({"template": "no placeholder"}, [608]),
            ({"template": "Your code: {{ code }}"}, [608]),
            ({"emailTemplate": {"subject": "x"}}, [608]),
            ({"emailTemplate": {"subject": "x", "body": "no placeholder"}}, [608]),
            ({"emailTemplate": {"subject": "Code\r\nBcc: a@example.com", "body": "{{ validation_code }}"}}, [608]),
            ({"emailTemplate": {"subject": "Co\nde", "body": "{{ validation_code }}"}}, [608]),
            ({"unexpected": True}, [400]),
            ({"action": "NOPE", "entityValue": None}, [600, 602]),
        ],
    )
    def test_bad_bodies(self, person, changes, codes):
        client = capillary_client(person.organization, "capillary.otp.write")
        response = post(client, GENERATE, generate_body(person, **changes))
        assert response.status_code == 400
        assert sorted(codes_of(response)) == codes
        assert not IssuedCode.objects.exists()

    @pytest.mark.parametrize("missing", ["entityType", "entityValue", "action", "channels"])
    def test_missing_fields(self, person, missing):
        body = generate_body(person)
        del body[missing]
        response = post(capillary_client(person.organization, "capillary.otp.write"), GENERATE, body)
        assert response.status_code == 400 and len(codes_of(response)) == 1
        assert not IssuedCode.objects.exists()

    def test_malformed_json_and_wrong_content_type(self, person):
        client = capillary_client(person.organization, "capillary.otp.write")
        assert codes_of(post(client, GENERATE, '{"entityType": ')) == [400]
        response = client.post(GENERATE, data="entityType=MOBILE", content_type="application/x-www-form-urlencoded")
        assert response.status_code == 400 and codes_of(response) == [400]
        assert not IssuedCode.objects.exists()


class TestValidate:
    def test_the_right_code(self, person):
        client = capillary_client(person.organization, "capillary.otp.write")
        issue(person)
        response = post(client, VALIDATE, validate_body(person, last_sms_code()))
        assert response.status_code == 200
        assert response.json() == {"entity": True, "warnings": []}

    def test_every_failure_answers_the_same(self, person, clock):
        client = capillary_client(person.organization, "capillary.otp.write")
        answers = {}

        issue(person, scope=Scope.GENERIC)
        right = last_sms_code()
        wrong = "000000" if right != "000000" else "111111"
        answers["wrong"] = post(client, VALIDATE, validate_body(person, wrong))
        post(client, VALIDATE, validate_body(person, right))
        answers["used"] = post(client, VALIDATE, validate_body(person, right))

        issue(person, scope=Scope.COUPON)
        coupon = last_sms_code()
        clock.advance(seconds=601)
        answers["expired"] = post(client, VALIDATE, validate_body(person, coupon, action="COUPON"))

        issue(person, scope=Scope.POINTS)
        points = last_sms_code()
        other = "000000" if points != "000000" else "111111"
        for _ in range(5):
            post(client, VALIDATE, validate_body(person, other, action="POINTS"))
        answers["locked"] = post(client, VALIDATE, validate_body(person, points, action="POINTS"))
        answers["unknown"] = post(client, VALIDATE, validate_body(person, right, entityValue="+1555"))
        answers["no_code"] = post(client, VALIDATE, validate_body(person, right, action="SUBSCRIPTION"))

        for reason, response in answers.items():
            assert (response.status_code, response.json()) == (200, {"entity": False, "warnings": []}), reason
        verifications = AuditEvent.objects.filter(action="code.verify", outcome="failure")
        reasons = set(verifications.values_list("reason", flat=True))
        assert reasons == {"wrong", "used", "expired", "locked", "unknown_recipient", "no_code"}
        assert {event.detail["surface"] for event in verifications} == {"capillary"}

    @pytest.mark.parametrize(
        ("changes", "codes"),
        [
            ({"code": ""}, [604]),
            ({"code": 123456}, [604]),
            ({"action": "LOGIN"}, [600]),
            ({"entityType": "CARD"}, [601]),
            ({"entityValue": ""}, [602]),
        ],
    )
    def test_bad_bodies_change_nothing(self, person, changes, codes):
        issue(person)
        client = capillary_client(person.organization, "capillary.otp.write")
        response = post(client, VALIDATE, {**validate_body(person, "123456"), **changes})
        assert response.status_code == 400 and codes_of(response) == codes
        assert IssuedCode.objects.get().attempts == 0

    @pytest.mark.parametrize("missing", ["entityType", "entityValue", "code", "action"])
    def test_missing_fields(self, person, missing):
        body = validate_body(person, "123456")
        del body[missing]
        response = post(capillary_client(person.organization, "capillary.otp.write"), VALIDATE, body)
        assert response.status_code == 400 and len(codes_of(response)) == 1

    def test_get_is_not_allowed(self, person):
        response = capillary_client(person.organization, *BOTH).get(VALIDATE)
        assert response.status_code == 405 and codes_of(response) == [405]


class TestAttributionHeaders:
    """Capillary's on-behalf headers, checked as its global error table says (1061, 400)."""

    def headers_client(self, person, **headers) -> APIClient:
        return capillary_client(person.organization, *BOTH, **headers)

    @pytest.mark.parametrize(("name", "permission", "request_for"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
    def test_a_lookup_without_its_type_is_1061_and_changes_nothing(self, person, name, permission, request_for):
        issue(person)
        client = self.headers_client(person, HTTP_X_CAP_API_ATTRIBUTION_LOOKUP="store-42")
        response = send(client, name, *request_for(person))
        assert response.status_code == 400
        assert response.json() == {
            "errors": [
                {
                    "status": False,
                    "code": 1061,
                    "message": "X-CAP-API-ATTRIBUTION-LOOKUP-TYPE header required with "
                    "X-CAP-API-ATTRIBUTION-LOOKUP header",
                }
            ]
        }
        code = IssuedCode.objects.get()
        assert (code.send_count, code.attempts) == (1, 0)
        assert not AuditEvent.objects.filter(action__in=["code.read_back", "code.verify", "code.resend"]).exists()

    @pytest.mark.parametrize(
        "headers",
        [
            {"HTTP_X_CAP_API_ATTRIBUTION_LOOKUP_TYPE": "TILL", "HTTP_X_CAP_API_ATTRIBUTION_LOOKUP": "x"},
            {"HTTP_X_CAP_API_ATTRIBUTION_LOOKUP_TYPE": "mobile_trigger"},
            {"HTTP_X_CAP_API_ATTRIBUTION_ENTITY_TYPE": "SHOP"},
            {"HTTP_X_CAP_API_ATTRIBUTION_LOOKUP_TYPE": "WECHAT", "HTTP_X_CAP_API_ATTRIBUTION_LOOKUP": "x" * 101},
        ],
    )
    def test_invalid_attribution_headers_are_400(self, person, headers):
        response = post(self.headers_client(person, **headers), GENERATE, generate_body(person))
        assert response.status_code == 400 and codes_of(response) == [400]
        assert not IssuedCode.objects.exists()

    def test_documented_headers_are_accepted_and_audited(self, person):
        client = self.headers_client(
            person,
            HTTP_X_CAP_API_ATTRIBUTION_LOOKUP_TYPE="MOBILE_TRIGGER",
            HTTP_X_CAP_API_ATTRIBUTION_LOOKUP="till-7",
            HTTP_X_CAP_API_ATTRIBUTION_ENTITY_TYPE="STORE_CODE",
            HTTP_X_CAP_API_ATTRIBUTION_ENTITY_CODE="s-1",
        )
        assert post(client, GENERATE, generate_body(person)).status_code == 200
        issued = AuditEvent.objects.get(action="code.issue")
        label = issued.actor_label
        assert issued.detail["surface"] == "capillary" and IssuedCode.objects.get().surface == "capillary"
        assert label.endswith("[LOOKUP-TYPE=MOBILE_TRIGGER, LOOKUP=till-7, ENTITY-TYPE=STORE_CODE, ENTITY-CODE=s-1]")

    def test_the_type_alone_is_accepted_as_capillary_clients_send_it(self, person):
        client = self.headers_client(person, HTTP_X_CAP_API_ATTRIBUTION_LOOKUP_TYPE="MOBILE_TRIGGER")
        assert post(client, GENERATE, generate_body(person)).status_code == 200

    def test_anonymous_is_still_401_first(self, person):
        client = APIClient()
        client.credentials(HTTP_X_CAP_API_ATTRIBUTION_LOOKUP="x")
        assert codes_of(post(client, GENERATE, generate_body(person))) == [401]
