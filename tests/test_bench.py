"""The bench's pure helpers (bench/ itself is not collected): request lines as bench/lua/requests.lua reads
them, the people pools, and the pass/fail verdict."""

import pytest

from bench.prepare import Endpoint, Pools
from bench.run import TRANSACTION_CONTROL, verdict


def test_a_request_line_is_method_path_body_then_headers_separated_by_tabs():
    endpoint = Endpoint("x", "surface", "write", (200,), cycle=False)
    endpoint.add("POST", "/v2/otp/validate", '{"code":"123456"}', Authorization="Basic YTpi", Content_Type="a/b")
    assert endpoint.lines == ['POST\t/v2/otp/validate\t{"code":"123456"}\tAuthorization: Basic YTpi\tContent-Type: a/b']


def test_pools_are_disjoint_and_leave_out_the_deactivated_people():
    pools = Pools(people=10_000, seed=1).draw({"a": 3000, "b": 3000, "c": 100})
    drawn = [n for pool in pools.values() for n in pool]
    assert [len(pool) for pool in pools.values()] == [3000, 3000, 100]
    assert len(set(drawn)) == len(drawn)
    assert all(1 <= n <= 10_000 and n % 200 for n in drawn)
    assert min(drawn) < 500  # the oldest people are in the sample too


def test_pools_refuse_to_draw_more_people_than_the_scale_has():
    with pytest.raises(SystemExit):
        Pools(people=1000, seed=1).draw({"a": 999})


@pytest.mark.parametrize(
    ("kind", "ratio", "p99", "errors", "expected"),
    [
        ("read", 0.61, 20.0, 0, "pass"),
        ("read", 0.59, 20.0, 0, "FAIL"),
        ("write", 0.35, 25.0, 0, "pass"),
        ("write", 0.90, 25.1, 0, "FAIL"),
        ("list", 0.90, 5.0, 1, "FAIL"),
        ("other", 0.01, 5.0, 0, "pass"),  # no ratio target: only p99 and errors count
    ],
)
def test_verdict_applies_the_issue_targets(kind, ratio, p99, errors, expected):
    assert verdict({"kind": kind, "ratio": ratio, "p99_ms": p99, "errors": errors}) == expected


def test_transaction_control_is_recognised_and_queries_are_not():
    assert TRANSACTION_CONTROL.match('SAVEPOINT "s1_x1"')
    assert TRANSACTION_CONTROL.match('RELEASE SAVEPOINT "s1_x1"')
    assert not TRANSACTION_CONTROL.match('SELECT "otpusers_otpuser"."id" FROM "otpusers_otpuser"')
