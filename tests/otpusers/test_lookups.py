"""otpusers.lookups."""

import pytest

from otpusers.models import OtpUser
from tests.factories import OtpUserFactory

pytestmark = pytest.mark.django_db


def test_is_set_finds_the_set_identifiers_with_the_empty_string_in_the_sql():
    with_mobile, without = OtpUserFactory(mobile="+4915100000001"), OtpUserFactory(mobile="")
    queryset = OtpUser.objects.filter(mobile__is_set=True)
    assert with_mobile in queryset and without not in queryset
    sql, parameters = queryset.query.sql_with_params()
    assert "= '')" in sql and "" not in parameters


def test_is_set_takes_only_true():
    with pytest.raises(ValueError, match="is_set"):
        list(OtpUser.objects.filter(mobile__is_set=False))
