"""/healthz, /readyz and /metrics."""

import re
import subprocess
import sys
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from credentials.models import DeliveryWorker
from tests.api.capillary.test_otp import capillary_client, generate_body, post, validate_body
from tests.credentials.helpers import last_sms_code, person_in
from tests.delivery import queued, run_worker
from tests.test_database_unavailable import database_down

pytestmark = pytest.mark.django_db


@pytest.fixture
def beating_worker():
    return DeliveryWorker.objects.create(worker_id="w1", hostname="node-1", pid=42)


def test_healthz_touches_nothing_but_the_process(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_with_the_database_down_healthz_still_answers_and_readyz_answers_503_json(settings):
    client = Client(raise_request_exception=False)
    with database_down():
        alive = client.get("/healthz")
        ready = client.get("/readyz")
    assert alive.status_code == 200 and alive.json() == {"status": "ok"}
    assert ready.status_code == 503 and ready["Content-Type"] == "application/json"
    assert ready["Retry-After"] == str(settings.OTPSITE_UNAVAILABLE_RETRY_AFTER)
    body = ready.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] is False
    assert body["checks"]["database"]["error"] == "the database did not answer"


class TestReadyz:
    def test_ready_with_a_worker_beating_and_the_queue_depth(self, client, beating_worker):
        issue_through_capillary(person_in())
        body = client.get("/readyz").json()
        assert body["status"] == "ok" and all(check["ok"] for check in body["checks"].values())
        assert set(body["checks"]) == {"database", "migrations", "worker", "queue", "keys"}
        assert body["checks"]["queue"]["depth"] == 1 == queued()

    def test_not_ready_without_a_worker_seen_within_the_minute(self, client, beating_worker, clock):
        clock.advance(seconds=61)
        response = client.get("/readyz")
        assert response.status_code == 503 and response.json()["status"] == "unavailable"
        assert response.json()["checks"]["worker"] == {
            "ok": False,
            "error": "no delivery worker seen in the last 60 s",
            "duration_ms": response.json()["checks"]["worker"]["duration_ms"],
        }

    def test_not_ready_when_the_keys_do_not_load(self, client, beating_worker, settings):
        settings.OTPSITE_ENCRYPTION_KEYS = ["broken"]
        response = client.get("/readyz")
        assert response.status_code == 503 and not response.json()["checks"]["keys"]["ok"]
        assert "broken" not in response.content.decode().replace('"keys"', "")

    def test_the_answer_is_json_and_never_cached(self, client, beating_worker):
        response = client.get("/readyz")
        assert response["Content-Type"] == "application/json" and "no-cache" in response["Cache-Control"]


def issue_through_capillary(person):
    client = capillary_client(person.organization, "capillary.otp.write")
    assert post(client, "/v2/otp/generate", generate_body(person)).status_code == 200
    return client


def scrape(client, **headers) -> dict[str, float]:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    values = {}
    for line in response.content.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


class TestMetrics:
    def test_refused_without_the_token_or_an_allowed_address(self, client, settings):
        settings.OTPSITE_METRICS_TOKEN = "scrape-token"
        assert client.get("/metrics").status_code == 403
        assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
        assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-token").status_code == 200

    def test_an_allowed_network_needs_no_token(self, settings):
        settings.OTPSITE_METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
        assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 200
        assert Client(REMOTE_ADDR="192.0.2.1").get("/metrics").status_code == 403

    def test_the_counters_match_a_flow(self, client, settings):
        settings.OTPSITE_METRICS_TOKEN = "scrape-token"
        auth = {"HTTP_AUTHORIZATION": "Bearer scrape-token"}
        before = scrape(client, **auth)
        people = [person_in(code_read_back_allowed=False) for _ in range(3)]
        callers = [issue_through_capillary(person) for person in people]
        assert scrape(client, **auth)["otpsite_delivery_queue_depth"] == 3
        run_worker()
        codes = [last_sms_code()]  # the last person's code
        assert post(callers[2], "/v2/otp/validate", validate_body(people[2], codes[0])).json()["entity"] is True
        wrong = "000000" if codes[0] != "000000" else "111111"
        assert post(callers[1], "/v2/otp/validate", validate_body(people[1], wrong)).json()["entity"] is False
        after = scrape(client, **auth)

        def delta(name: str) -> float:
            return after.get(name, 0) - before.get(name, 0)

        issued = 'otpsite_codes_issued_total{channel="SMS",scope="GENERIC",surface="capillary"}'
        assert delta(issued) == 3
        assert delta('otpsite_deliveries_total{channel="SMS",outcome="sent"}') == 3
        assert delta('otpsite_code_verifications_total{outcome="success",surface="capillary"}') == 1
        assert delta('otpsite_code_verifications_total{outcome="wrong",surface="capillary"}') == 1
        assert after["otpsite_delivery_queue_depth"] == 0
        generate = 'otpsite_http_requests_total{method="POST",route="^v2/otp/generate/?$",status="200"}'
        assert delta(generate) == 3
        assert any(name.startswith("otpsite_db_queries_total") for name in after)
        assert any(name.startswith("otpsite_http_request_duration_seconds_bucket") for name in after)


def test_counters_add_up_across_processes(tmp_path):
    """prometheus_client's multiprocess mode, as gunicorn's workers and the delivery worker run it."""
    count = (
        "import os, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'otpsite.settings_test'); django.setup();"
        "from credentials import observability;"
        "observability.CODES_ISSUED.labels(surface='capillary', scope='GENERIC', channel='SMS').inc(2)"
    )
    read = (
        "from prometheus_client import CollectorRegistry, generate_latest, multiprocess;"
        "registry = CollectorRegistry(); multiprocess.MultiProcessCollector(registry);"
        "print(generate_latest(registry).decode())"
    )
    environment = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    for _ in range(3):
        subprocess.run([sys.executable, "-c", count], check=True, env=environment, timeout=60)
    exposition = subprocess.run(
        [sys.executable, "-c", read], check=True, env=environment, timeout=60, capture_output=True, text=True
    ).stdout
    assert re.search(
        r'otpsite_codes_issued_total\{channel="SMS",scope="GENERIC",surface="capillary"\} 6\.0', exposition
    )


def test_a_stale_worker_row_is_not_a_heartbeat(beating_worker):
    DeliveryWorker.objects.filter(pk=beating_worker.pk).update(last_seen_at=timezone.now() - timedelta(minutes=2))
    assert Client().get("/readyz").json()["checks"]["worker"]["ok"] is False


def test_card_logins_are_counted_by_outcome(client, settings):
    from credentials import services
    from tests.credentials.card_helpers import ACTOR, answer_for, card_holder, wrong_answer_for

    settings.OTPSITE_METRICS_TOKEN = "scrape-token"
    auth = {"HTTP_AUTHORIZATION": "Bearer scrape-token"}
    before = scrape(client, **auth)
    person = card_holder()
    services.card_create(person=person, actor=ACTOR)
    card, challenge = services.card_challenge(person=person, actor=ACTOR)
    for answer in (wrong_answer_for(card, challenge), answer_for(card, challenge)):
        services.card_login(person=person, challenge=challenge, password=answer, actor=ACTOR)
    after = scrape(client, **auth)
    for outcome in ("wrong_answer", "success"):
        name = f'otpsite_card_logins_total{{outcome="{outcome}"}}'
        assert after[name] - before.get(name, 0) == 1
