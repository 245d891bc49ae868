"""`manage.py rotate_keys` re-encrypts everything sealed (issued codes and OTP card grids): after it, the old
key can be dropped and cards still log in and codes still read back (finding 2 of issue 10)."""

import base64
import hashlib
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from rest_framework.test import APIClient

from credentials import crypto, services
from credentials.models import IssuedCode, OtpCard
from tests.credentials.card_helpers import ACTOR, answer_for, card_holder
from tests.credentials.helpers import issue, last_sms_code
from tests.factories import make_api_key

pytestmark = pytest.mark.django_db

OLD = "old:" + base64.urlsafe_b64encode(b"O" * 32).decode().rstrip("=")
NEW = "new:" + base64.urlsafe_b64encode(b"N" * 32).decode().rstrip("=")


def rotate(*arguments) -> str:
    out = StringIO()
    call_command("rotate_keys", *arguments, stdout=out)
    return out.getvalue()


@pytest.fixture
def sealed_under_old():
    """Three card holders with a card and a readable code each, all sealed under the old key."""
    people, codes = [], []
    with override_settings(OTPSITE_ENCRYPTION_KEYS=[OLD]):
        for _ in range(3):
            person = card_holder()
            organization = person.organization
            organization.code_read_back_allowed = True
            organization.save()
            person.mobile = f"+4916{person.pk:09d}"
            person.save()
            services.card_create(person=person, state="active", actor=ACTOR)
            issue(person)
            people.append(person)
            codes.append(last_sms_code())
    return people, codes


def test_rotate_then_drop_the_old_key_then_log_in_with_a_card_and_read_back_a_code(sealed_under_old):
    people, codes = sealed_under_old
    with override_settings(OTPSITE_ENCRYPTION_KEYS=[NEW, OLD]):
        report = rotate("--batch-size", "2")
    assert "still under other keys: 3 issued codes, 3 OTP card grids" in report
    assert "issued codes: 2 re-encrypted" in report and "OTP card grids: 3 re-encrypted" in report  # batches
    assert "Re-encrypted 3 issued codes, 3 OTP card grids under key 'new'" in report
    assert "still under other keys: 0 issued codes, 0 OTP card grids" in report
    assert {crypto.key_id_of(sealed) for sealed in IssuedCode.objects.values_list("code_sealed", flat=True)} == {"new"}
    assert {crypto.key_id_of(sealed) for sealed in OtpCard.objects.values_list("grid_sealed", flat=True)} == {"new"}

    with override_settings(OTPSITE_ENCRYPTION_KEYS=[NEW]):
        person = people[0]
        client = APIClient()
        client.credentials(
            HTTP_AUTHORIZATION="Bearer "
            + make_api_key(person.organization, "AccessControl.CredentialView", "AccessControl.CredentialChangeState")[
                1
            ]
        )
        auth = f"/nevisidm/api/auth/v1/{person.organization.ext_id}/users/{person.ext_id}/otp"
        challenge = client.post(f"{auth}/challenge", format="json").json()["challenge"]
        card = OtpCard.objects.get(otp_user=person)
        login = client.post(
            f"{auth}/login", {"challenge": challenge, "password": answer_for(card, challenge)}, format="json"
        )
        assert login.status_code == 200 and login.json()["statusCode"] == 0

        api_key, token = make_api_key(person.organization, "capillary.otp.read")
        md5 = hashlib.md5(token.split(".", 1)[1].encode()).hexdigest()
        capillary = APIClient()
        capillary.credentials(
            HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{api_key.key_id}:{md5}".encode()).decode()
        )
        read = capillary.get(
            "/v2/otp",
            {"identifierName": "mobile", "identifierValue": person.mobile, "source": "INSTORE", "scope": "GENERIC"},
        )
        assert read.status_code == 200 and read.json()["code"] == codes[0]


def test_a_stopped_rotation_keeps_its_batches_and_a_second_run_finishes(sealed_under_old):
    people, _ = sealed_under_old
    with override_settings(OTPSITE_ENCRYPTION_KEYS=[NEW, OLD]):
        # The last card's grid was sealed under a key no longer configured: the run stops there.
        last_card = OtpCard.objects.order_by("pk").last()
        with override_settings(OTPSITE_ENCRYPTION_KEYS=[OLD.replace("old:", "lost:")]):
            OtpCard.objects.filter(pk=last_card.pk).update(
                grid_sealed=crypto.seal("1234" * 168, associated_data=services.card_aad(last_card))
            )
        with pytest.raises(CommandError, match=f"OTP card grids, row {last_card.pk}"):
            rotate("--batch-size", "1")
        assert services.sealed_values_outdated() == {"issued codes": 0, "OTP card grids": 1}

    with override_settings(OTPSITE_ENCRYPTION_KEYS=[NEW, OLD, OLD.replace("old:", "lost:")]):
        report = rotate()
        assert services.sealed_values_outdated() == {"issued codes": 0, "OTP card grids": 0}
    assert "Re-encrypted 0 issued codes, 1 OTP card grids under key 'new'" in report
