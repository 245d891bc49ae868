"""Every verify path does the same work for a person who exists and one who does not: the same statements
(count and shape) and the same keyed hashes, so that timing does not tell who exists (finding 6 of issue
10). `manage.py timing_probe` measures what is left."""

import base64
import hashlib
import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from credentials import codes
from otpusers.models import AuditEvent, Organization, OtpUser
from tests.credentials.helpers import issue
from tests.factories import AppAccessFactory, OtpUserFactory, make_api_key

pytestmark = pytest.mark.django_db


def shapes(call) -> tuple[list[str], object]:
    """The statements `call` runs, with savepoint names (which count up) made alike."""
    statements = []

    def record(execute, sql, params, many, context):
        statements.append(re.sub(r'"s\d+_x\d+"', "SAVEPOINT", sql))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        result = call()
    return statements, result


@pytest.fixture
def person():
    person = OtpUserFactory(mobile="+4915100000003", user_name="known")
    issue(person)  # an outstanding code, which the guesses below get wrong
    return person


@pytest.fixture
def hashes(monkeypatch):
    computed = []
    real = codes.code_digest

    def counting(**kwargs):
        computed.append(kwargs["key"])
        return real(**kwargs)

    monkeypatch.setattr(codes, "code_digest", counting)
    return computed


def warmed_up(client: APIClient, url: str) -> APIClient:
    """After its first request, which also records the key's last use (once a minute)."""
    assert client.get(url).status_code == 405
    return client


def capillary(person) -> APIClient:
    api_key, token = make_api_key(person.organization, "capillary.otp.write")
    client = APIClient()
    md5 = hashlib.md5(token.split(".", 1)[1].encode()).hexdigest()
    client.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{api_key.key_id}:{md5}".encode()).decode())
    return warmed_up(client, "/v2/otp/validate")


def manage(person) -> APIClient:
    api_key, token = make_api_key(person.organization, "manage.otp.verify")
    client = APIClient()
    secret = token.split(".", 1)[1]
    client.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{api_key.key_id}:{secret}".encode()).decode())
    return warmed_up(client, "/manage/v2/user/validate/otp")


def test_capillary_validate(person, hashes):
    client = capillary(person)

    def validate(mobile, action="GENERIC"):
        body = {"entityType": "MOBILE", "entityValue": mobile, "action": action, "code": "000000"}
        return lambda: client.post("/v2/otp/validate", body, format="json")

    known, known_answer = shapes(validate(person.mobile))
    no_code, _ = shapes(validate(person.mobile, action="COUPON"))
    unknown, unknown_answer = shapes(validate("+4915199999999"))
    assert known == unknown == no_code
    # The read (made ahead, in the client limits' statement), then the conditional UPDATE and the audit event
    # in one statement.
    assert any(sql.startswith("WITH bumped") and "SELECT person.*" in sql for sql in known)
    assert any(sql.startswith("WITH changed AS (UPDATE") and "INSERT INTO" in sql for sql in known)
    assert known_answer.json() == unknown_answer.json() == {"entity": False, "warnings": []}
    assert len(hashes) == 3  # one keyed hash each


def test_manage_validate_with_and_without_a_person_and_with_a_wrong_phone(person, hashes):
    client = manage(person)

    def validate(user_name, phone=person.mobile):
        body = {"userName": user_name, "phoneNumber": phone, "otp": "000000"}
        return lambda: client.post("/manage/v2/user/validate/otp", body, format="json")

    known, known_answer = shapes(validate("known"))
    unknown, unknown_answer = shapes(validate("nobody"))
    wrong_phone, _ = shapes(validate("known", "+4915100000000"))
    assert known == unknown == wrong_phone
    assert known_answer.status_code == unknown_answer.status_code == 400
    assert known_answer.json()["errors"] == unknown_answer.json()["errors"]
    assert len(hashes) == 3


def test_store_page_code_verify():
    access = AppAccessFactory()
    application = access.published_application
    args = [application.store.slug, application.slug]
    runs = []
    for email in (access.otp_user.email, "stranger@example.com"):
        client = Client()
        client.post(reverse("store:request_code", args=args), {"email": email})
        runs.append(
            shapes(lambda client=client: client.post(reverse("store:verify_code", args=args), {"code": "0"}))[0]
        )
    assert runs[0] == runs[1]


def test_previous_hmac_keys_are_tried_every_time(person, hashes, settings):
    settings.OTPSITE_HMAC_PREVIOUS_KEYS = ["an-older-hmac-key-still-accepted-during-rotation"]
    client = capillary(person)
    for mobile in (person.mobile, "+4915199999999"):
        client.post(
            "/v2/otp/validate",
            {"entityType": "MOBILE", "entityValue": mobile, "action": "GENERIC", "code": "000000"},
            format="json",
        )
    assert len(hashes) == 4


def test_the_timing_probe_reports_each_path_and_keeps_nothing():
    out = StringIO()
    call_command("timing_probe", "--tries", "5", stdout=out)
    report = out.getvalue()
    assert re.search(r"Capillary validate: known [\d.]+ ms, unknown [\d.]+ ms, mean difference [-+][\d.]+ ms", report)
    assert "manage validate:" in report and "code_verify service:" in report
    assert not Organization.objects.exists() and not AuditEvent.objects.exists() and not OtpUser.objects.exists()
