import re
import time

from otpusers.ids import new_object_id, normalize_public_id


def test_ids_are_24_hex_unique_and_time_ordered():
    ids = [new_object_id() for _ in range(5000)]
    assert all(re.fullmatch(r"[0-9a-f]{24}", value) for value in ids)
    assert len(set(ids)) == len(ids)
    assert abs(int(ids[0][:8], 16) - time.time()) < 5


def test_normalize_accepts_either_case_and_refuses_the_rest():
    assert normalize_public_id("ABCDEF0123456789ABCDEF01") == "abcdef0123456789abcdef01"
    for bad in ("", "abc", "g" * 24, "a" * 25, None, 12):
        assert normalize_public_id(bad) is None
