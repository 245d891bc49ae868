"""The nevisIDM credential DTO, written out by hand, answers what its declared fields (from which the schema
is made) would."""

from datetime import UTC, datetime

import pytest
from rest_framework import serializers as drf

from credentials import services
from otpsite.api.nevisidm.serializers import OtpCredentialSerializer
from otpusers.audit import Actor
from tests.factories import OtpUserFactory

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("tests")


def a_card(**changes):
    person = OtpUserFactory(ext_id="user-1")
    card = services.card_create(person=person, ext_id="otp-1", state="active", actor=ACTOR, comment="issued")
    type(card).objects.filter(pk=card.pk).update(**changes)
    return type(card).objects.select_related("policy", "otp_user", "organization").get(pk=card.pk)


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {
            "valid_from": datetime(2026, 1, 1, 9, 30, 15, 999999, tzinfo=UTC),
            "valid_to": datetime(2027, 1, 1, tzinfo=UTC),
            "last_successful_login_at": datetime(2026, 3, 2, 8, 0, 0, 1, tzinfo=UTC),
            "successful_login_count": 3,
            "last_failed_login_at": datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC),
            "failed_login_count": 2,
            "state": "disabled",
            "state_change_reason": "lost",
            "state_change_detail": "reported by phone",
            "version": 7,
        },
    ],
)
def test_a_card_is_written_as_its_fields_would_write_it(changes):
    card = a_card(**changes)
    expected = drf.Serializer.to_representation(OtpCredentialSerializer(), card)
    written = OtpCredentialSerializer(card).data
    assert written == expected
    assert list(written) == list(expected)  # the same keys in the same order
    assert OtpCredentialSerializer([card], many=True).data == [expected]
