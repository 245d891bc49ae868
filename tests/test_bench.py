"""The bench's pure helpers (bench/ itself is not collected): request lines as bench/lua/requests.lua reads
them, the people pools, and the pass/fail verdict."""

import pytest

from bench.import_people import HEADER, people_csv
from bench.prepare import Endpoint, Pools
from bench.run import TRANSACTION_CONTROL, verdict
from bench.stalled import markdown as stalled_markdown
from bench.stalled import verdicts as stalled_verdicts


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


def stalled_phase(*, during_max: float = 150.0, outcomes: dict | None = None, tries_ended: int = 0) -> dict:
    timed = {"count": 10, "p50_ms": 100.0, "max_ms": 150.0, "statuses": [200], "each_ms": []}
    return {
        "channel": "SMS",
        "opening_generate": {"ms": 30.0, "status": 200},
        "generates": {"before": timed, "during": {**timed, "max_ms": during_max}},
        "unrelated": {
            "Capillary GET": {
                "before": {"count": 20, "p50_ms": 10.0, "max_ms": 20.0, "statuses": [200]},
                "during": {"count": 20, "p50_ms": 12.0, "max_ms": 25.0, "statuses": [200]},
            }
        },
        "answered_s_after_stall_began": 0.8,
        "tries_ended_when_answered": tries_ended,
        "codes_waiting_after_sampling": 9,
        "worker": {
            "first_tries_recorded_s_after_stall_began": 23.0,
            "attempts_by_outcome": outcomes or {"retry": 11},
            "duration_ms": {"min": 2001, "max": 2050},
            "provider_answers": ["The SMS gateway did not answer within 2 s (ReadTimeout)."],
            "queued_retries": 11,
            "retries_due_in_s": [9.0, 29.0],
            "codes_by_delivery_status": {"pending": 11},
            "queued_retries_dropped_after": 11,
        },
    }


@pytest.mark.parametrize(
    ("phase", "failed"),
    [
        (stalled_phase(), []),
        (stalled_phase(during_max=200.0), ["generates_under_200_ms"]),
        (stalled_phase(tries_ended=1), ["answered_while_the_worker_was_held"]),
        (stalled_phase(outcomes={"retry": 10, "sent": 1}), ["timeouts_recorded_and_retries_queued"]),
    ],
)
def test_the_stalled_provider_verdicts(phase, failed):
    verdicts = stalled_verdicts(phase, timeout=2, requests=10)
    assert [name for name, ok in verdicts.items() if not ok] == failed


def test_the_stalled_provider_report_names_each_failed_verdict():
    phase = stalled_phase(during_max=250.0)
    phase["verdicts"] = stalled_verdicts(phase, timeout=2, requests=10)
    conditions = {
        "cpus": 2,
        "load_average_at_start": [1.0, 1.0, 1.0],
        "load_average_at_end": [1.0, 1.0, 1.0],
        "commit": "abc1234",
        "gunicorn_workers": 5,
        "provider_timeout_s": 2,
        "concurrent_generates": 10,
        "unrelated_samples": 20,
    }
    text = stalled_markdown({"date": "2026-11-28", "conditions": conditions, "target_ms": 200.0, "phases": [phase]})
    assert "| SMS webhook | 10 Capillary generates at once | 100 / 150 | 100 / 250 | 200 |" in text
    assert "FAIL: generates under 200 ms |" in text


def test_the_import_bench_file_names_every_identifier_once_per_person():
    lines = people_csv(1000).decode().splitlines()
    assert lines[0].split(",") == list(HEADER) and len(lines) == 1001
    columns = list(zip(*(line.split(",") for line in lines[1:]), strict=True))
    for name in ("email", "mobile", "external_id", "wechat_id", "user_name", "ext_id"):
        assert len(set(columns[HEADER.index(name)])) == 1000, name


def test_cpu_per_request_is_each_part_s_seconds_over_the_requests():
    from bench.run import CpuMeter, cpu_cell

    before = {"app": 10.0, "db": 2.0, "wrk": 1.0}
    after = {"app": 10.5, "db": 2.1, "wrk": 1.02}
    assert CpuMeter.per_request(before, after, 250) == {"app_cpu_ms": 2.0, "db_cpu_ms": 0.4, "wrk_cpu_ms": 0.08}
    assert CpuMeter.per_request(before, after, 0) == {}
    row = {"app_cpu_ms": 2.0, "db_cpu_ms": 0.4, "floor_app_cpu_ms": 1.5, "floor_db_cpu_ms": 0.1}
    assert cpu_cell(row) == "2.00 · 0.40 (1.50 · 0.10)"
    assert cpu_cell({}) == ""


def test_runs_side_by_side(tmp_path):
    import json

    from bench.compare import table

    def run(name: str, ratio: float) -> dict:
        return {"name": name, "kind": "read", "rps": 500.0, "ratio": ratio, "p99_ms": 20.0,
                "statements_per_request": 2.2}  # fmt: skip

    first, second = tmp_path / "50k.json", tmp_path / "1m.json"
    first.write_text(json.dumps({"endpoints": [run("Applivery GET", 0.5)]}))
    second.write_text(json.dumps({"endpoints": [run("Applivery GET", 0.6), run("store page GET", 0.8)]}))
    lines = table([first, second]).splitlines()
    assert lines[0] == "| endpoint | target | 50k | 1m | SQL/req | last two |"
    assert lines[2] == "| Applivery GET | ≥ 60 % | 500 · 50 % · 20.0 | 500 · 60 % · 20.0 | 2.2 | +20 % |"
    assert lines[3] == "| store page GET | ≥ 60 % | — | 500 · 80 % · 20.0 | 2.2 | — |"
