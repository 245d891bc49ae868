import base64
import random

import pytest

from otpsite.env import secret_weakness


@pytest.mark.parametrize(
    "value, reason",
    [
        ("a" * 50, "distinct"),
        (bytes(32), "zeros"),
        ("0" * 40, "zeros"),
        ("abcdefghijk" * 5, "pattern"),
        ("x" * 10 + "0123456789abcdefghijklmnopqrstuvwxyz", "in a row"),
        (b"\x01\x02" * 16, "distinct"),
        ("", "empty"),
    ],
)
def test_low_entropy_secrets_are_named(value, reason):
    assert reason in secret_weakness(value)


def test_generated_secrets_pass():
    # Fixed examples of each generator the README and .env.example tell operators to use.
    for value in (
        "DJFMEODTUYwqF7qnGwGmnYlxpq0-iv1Os0-UvebsQmy3G_FcDPuRTTwsVBr0",
        "ad25526b058383fb952f8aac2614182b035212d9",
        base64.urlsafe_b64decode("YtxcA6tn_eRlN4IqBEhVjsmqOZT2BZNEekmllWh1w6g="),
    ):
        assert secret_weakness(value) is None
    # And many more from a seeded generator (the same each run): no false alarm.
    generator = random.Random(10)
    for _ in range(2000):
        assert secret_weakness(generator.randbytes(16).hex()) is None
        assert secret_weakness(generator.randbytes(32)) is None
        assert secret_weakness(base64.urlsafe_b64encode(generator.randbytes(40)).decode()) is None
