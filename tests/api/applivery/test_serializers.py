"""The Applivery serializers that write their representation out by hand answer what their declared
fields (from which the schema is made) would."""

from datetime import UTC, datetime

import pytest
from rest_framework import serializers as drf

from otpsite.api.applivery.serializers import OtpUserSerializer
from tests.factories import AppAccessFactory

pytestmark = pytest.mark.django_db


def by_the_fields(serializer_class, instance) -> dict:
    return drf.Serializer.to_representation(serializer_class(), instance)


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"last_login_at": datetime(2026, 3, 2, 8, 0, 0, 123456, tzinfo=UTC), "allowed_downloads_num": -1},
        {"last_download_at": datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "allowed_downloads_num": 7},
    ],
)
def test_an_otp_user_is_written_as_its_fields_would_write_it(changes):
    access = AppAccessFactory(**changes)
    access.refresh_from_db()
    expected = by_the_fields(OtpUserSerializer, access)
    assert OtpUserSerializer(access).data == expected
    assert list(OtpUserSerializer(access).data) == list(expected)  # the same keys in the same order


def test_a_list_row_is_written_as_the_object_is():
    access = AppAccessFactory(last_login_at=datetime(2026, 3, 2, 8, 0, 0, 123456, tzinfo=UTC))
    access.refresh_from_db()
    row = type(access).objects.filter(pk=access.pk).values(*OtpUserSerializer.LIST_COLUMNS).get()
    store = access.published_application.store
    assert OtpUserSerializer.from_row(row, store=store) == by_the_fields(OtpUserSerializer, access)
