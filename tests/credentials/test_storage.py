"""No issued code is anywhere in the database in plaintext, whatever the organization's read-back setting."""

import pytest
from django.db import connection

from otpusers.choices import CodeAlphabet
from tests.credentials.helpers import issue, last_sms_code, person_in, verify

pytestmark = pytest.mark.django_db


def every_text_value() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT table_name, column_name FROM information_schema.columns
            WHERE table_schema = 'public'
              AND data_type IN ('text', 'character varying', 'jsonb', 'json', 'character')
            """
        )
        columns = cursor.fetchall()
        values = []
        for table, column in columns:
            cursor.execute(f'SELECT "{column}"::text FROM "{table}" WHERE "{column}" IS NOT NULL')
            values.extend(row[0] for row in cursor.fetchall())
    return values


def test_no_plaintext_code_in_any_text_column():
    codes = []
    # Long alphanumeric codes, so that a match cannot be a coincidence with an id or a timestamp.
    for read_back in (False, True):
        person = person_in(
            code_read_back_allowed=read_back,
            code_alphabet=CodeAlphabet.ALPHANUMERIC,
            code_length=12,
            resend_cooldown_seconds=0,
        )
        for _ in range(3):
            issue(person)
            codes.append(last_sms_code())
        verify(person, codes[-1])
    values = every_text_value()
    assert len(values) > 50
    for code in codes:
        assert len(code) == 12
        assert not any(code in value for value in values), code
