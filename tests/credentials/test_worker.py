"""The delivery worker as it runs in production: `manage.py db_worker` in its own process."""

import os
import signal
import subprocess
import sys
import threading
import time
from urllib.parse import quote

import httpx
import pytest
from django.conf import settings as django_settings
from django.db import connection

from credentials.choices import AttemptOutcome, DeliveryStatus
from credentials.models import DeliveryAttempt, DeliveryWorker, IssuedCode
from tests.api.capillary.test_otp import capillary_client, generate_body
from tests.credentials.helpers import issue, person_in
from tests.delivery import queued
from tests.sinks import Stalled, WebhookSink

pytestmark = pytest.mark.django_db(transaction=True)


def database_url() -> str:
    database = connection.settings_dict
    password = f":{quote(database['PASSWORD'])}" if database["PASSWORD"] else ""
    return f"postgres://{quote(database['USER'])}{password}@{database['HOST']}:{database['PORT']}/{database['NAME']}"


def start_worker(**environment) -> subprocess.Popen:
    env = {
        **os.environ,
        # The production settings, with the suite's keys (settings_test puts them in the environment).
        "DJANGO_SETTINGS_MODULE": "otpsite.settings",
        "DJANGO_DEBUG": "false",
        "DATABASE_URL": database_url(),
        "OTPSITE_WORKER_HEARTBEAT_SECONDS": "1",
        "OTPSITE_WORKER_STALE_SECONDS": "2",
        **environment,
    }
    command = [sys.executable, "manage.py", "db_worker", "--no-reload", "--interval", "0.1", "--no-startup-delay"]
    return subprocess.Popen(command, cwd=django_settings.BASE_DIR, env=env)


def test_killing_the_worker_mid_delivery_and_starting_another_delivers_every_code_once():
    people = [person_in() for _ in range(5)]
    for person in people:
        issue(person)
    assert queued() == 5
    with WebhookSink() as gateway:
        third = people[2].mobile
        gateway.hold = lambda request: request["to"] == third
        environment = {
            "OTPSITE_SMS_BACKEND": "credentials.delivery.WebhookSmsBackend",
            "OTPSITE_SMS_WEBHOOK_URL": gateway.url,
        }
        first = start_worker(**environment)
        try:
            # The first worker sends two codes, then hangs on the third with the gateway holding the answer.
            assert gateway.wait(lambda sink: any(request["to"] == third for request in sink.requests))
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=30)
        gateway.release()
        assert {request["to"] for request in gateway.requests} <= {person.mobile for person in people[:3]}

        second = start_worker(**environment)
        try:
            assert gateway.wait(lambda sink: len(sink.delivered) == 5 and queued() == 0, timeout=90)
            deadline = time.monotonic() + 30
            while IssuedCode.objects.exclude(delivery_status=DeliveryStatus.SENT).exists():
                assert time.monotonic() < deadline, "the second worker did not finish"
                time.sleep(0.1)
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=30) == 0

    # Every code reached the phones exactly once; only the send the first worker was killed in was repeated,
    # under the same idempotency key, which the gateway recognised.
    assert sorted(request["to"] for request in gateway.delivered) == sorted(person.mobile for person in people)
    repeated = [request["to"] for request in gateway.requests if request["to"] == third]
    assert len(repeated) == 2 and len(gateway.requests) == 6
    held = DeliveryAttempt.objects.filter(issued_code__otp_user=people[2])
    assert sorted(held.values_list("outcome", flat=True)) == [AttemptOutcome.INTERRUPTED, AttemptOutcome.SENT]
    assert DeliveryAttempt.objects.filter(outcome=AttemptOutcome.SENT).count() == 5
    assert not DeliveryWorker.objects.exists()  # the second worker said goodbye; the first was cleared


# The provider's timeout on the worker. Nothing below is timed against a wall-clock bound: each answer must
# come back while the worker is still held by the provider, before this timeout has ended its first try.
PROVIDER_TIMEOUT = 15


@pytest.mark.parametrize("channel", ["SMS", "EMAIL"])
def test_with_a_provider_that_never_answers_the_api_still_answers_at_once(live_server, settings, channel):
    """Ten parallel Capillary generates while the SMS gateway, or the mail server, accepts connections and
    never answers, and the worker is already stuck on it."""
    people = [person_in() for _ in range(11)]
    authorizations = [
        capillary_client(person.organization, "capillary.otp.write")._credentials["HTTP_AUTHORIZATION"]
        for person in people
    ]
    with Stalled() as provider:
        if channel == "SMS":
            environment = {
                "OTPSITE_SMS_BACKEND": "credentials.delivery.WebhookSmsBackend",
                "OTPSITE_SMS_WEBHOOK_URL": provider.url,
                "OTPSITE_SMS_WEBHOOK_TIMEOUT": str(PROVIDER_TIMEOUT),
            }
            settings.OTPSITE_SMS_BACKEND = environment["OTPSITE_SMS_BACKEND"]
            settings.OTPSITE_SMS_WEBHOOK_URL = provider.url
        else:
            environment = {
                "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                "DJANGO_EMAIL_HOST": "127.0.0.1",
                "DJANGO_EMAIL_PORT": str(provider.port),
                "DJANGO_EMAIL_TIMEOUT": str(PROVIDER_TIMEOUT),
            }
        worker = start_worker(**environment)
        try:
            caller = httpx.Client()
            timings: list[float] = [0.0] * len(people)
            statuses: list[int] = [0] * len(people)

            def generate(index: int) -> None:
                person = people[index]
                address = person.mobile if channel == "SMS" else person.email
                started = time.perf_counter()
                response = caller.post(
                    f"{live_server.url}/v2/otp/generate",
                    json=generate_body(person, channels=[{"type": channel, "value": address}]),
                    headers={"Authorization": authorizations[index]},
                    timeout=PROVIDER_TIMEOUT * 4,
                )
                timings[index], statuses[index] = time.perf_counter() - started, response.status_code

            # The first code puts the (single-threaded) worker on the provider, which holds it.
            generate(0)
            deadline = time.monotonic() + 60
            while not provider.connections:
                assert time.monotonic() < deadline, "the worker never reached the provider"
                time.sleep(0.05)

            threads = [threading.Thread(target=generate, args=(index,)) for index in range(1, len(people))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=PROVIDER_TIMEOUT * 4)
            unrelated = caller.get(f"{live_server.url}/api/schema/", timeout=PROVIDER_TIMEOUT * 4)

            # Every answer, and an unrelated request, came back while the provider still held the worker's
            # first send: the worker has recorded no try yet. A request that waited on a send would take the
            # provider's full timeout and find that try recorded.
            assert statuses == [200] * len(people)
            assert unrelated.status_code == 200
            assert not DeliveryAttempt.objects.exclude(outcome=AttemptOutcome.SENDING).exists()
            deadline = time.monotonic() + 60 + PROVIDER_TIMEOUT
            while not DeliveryAttempt.objects.filter(outcome=AttemptOutcome.RETRY).exists():
                assert time.monotonic() < deadline, "the worker recorded no timeouts"
                time.sleep(0.2)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=30)
    timeouts = DeliveryAttempt.objects.filter(outcome=AttemptOutcome.RETRY)
    assert all(f"did not answer within {PROVIDER_TIMEOUT} s" in attempt.provider_answer for attempt in timeouts)
    assert all(attempt.duration_ms >= PROVIDER_TIMEOUT * 1000 for attempt in timeouts)
    print(f"{channel} generate timings (s): {sorted(round(timing, 3) for timing in timings[1:])}")
