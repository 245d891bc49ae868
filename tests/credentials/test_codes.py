import re

import pytest

from credentials import codes


@pytest.mark.parametrize(("alphabet", "pattern"), [("digits", r"[0-9]"), ("alphanumeric", r"[A-Z0-9]")])
@pytest.mark.parametrize("length", [4, 6, 12])
def test_generated_codes_have_the_length_and_alphabet(alphabet, pattern, length):
    generated = {codes.generate_code(length, alphabet) for _ in range(200)}
    assert all(re.fullmatch(f"{pattern}{{{length}}}", code) for code in generated)
    assert len(generated) > 150  # drawn at random, not a fixed sequence


def test_digests_are_keyed_and_salted():
    one = codes.code_digest(key=b"k1", salt="a", code="123456")
    assert one != codes.code_digest(key=b"k2", salt="a", code="123456")
    assert one != codes.code_digest(key=b"k1", salt="b", code="123456")
    assert "123456" not in one
    assert codes.digest_matches(key=b"k1", salt="a", code="123456", expected=one)
    assert not codes.digest_matches(key=b"k1", salt="a", code="123457", expected=one)


def test_normalization_forgives_spaces_dashes_and_case():
    assert codes.normalize_code(" ab1-2c 3 ") == "AB12C3"
