"""Sending through real servers on loopback: an SMTP server, an SMS webhook, and ones that never answer."""

import re

import pytest

from credentials.choices import AttemptOutcome, Channel, DeliveryStatus
from credentials.models import DeliveryAttempt, IssuedCode
from tests.credentials.helpers import issue, person_in
from tests.delivery import queued, run_worker
from tests.sinks import MailSink, Stalled, WebhookSink

pytestmark = pytest.mark.django_db


@pytest.fixture
def smtp(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_TIMEOUT = 5
    with MailSink() as sink:
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port
        yield sink


@pytest.fixture
def webhook(settings):
    settings.OTPSITE_SMS_BACKEND = "credentials.delivery.WebhookSmsBackend"
    settings.OTPSITE_SMS_WEBHOOK_TOKEN = "gateway-token"
    with WebhookSink() as sink:
        settings.OTPSITE_SMS_WEBHOOK_URL = sink.url
        yield sink


def test_email_goes_through_a_real_smtp_server(smtp):
    person = person_in()
    result = issue(person, channel=Channel.EMAIL)
    assert not smtp.messages  # nothing is sent on the caller's path
    run_worker()
    (message,) = smtp.wait_for(1)
    assert message["To"] == person.email and message["Subject"]
    send_id = DeliveryAttempt.objects.get().send_id
    assert message["Message-ID"] == f"<{send_id}-EMAIL@otpsite>"
    assert re.search(r"\b\d{6}\b", message.get_payload()[0].get_payload())
    assert IssuedCode.objects.get(pk=result.code.pk).delivery_status == DeliveryStatus.SENT
    assert DeliveryAttempt.objects.get().provider_answer == "accepted by the mail server"


def test_sms_goes_through_a_real_webhook(webhook):
    person = person_in()
    issue(person)
    run_worker()
    (request,) = webhook.requests
    attempt = DeliveryAttempt.objects.get()
    assert request["to"] == person.mobile and "code is" in request["body"]
    assert request["auth"] == "Bearer gateway-token" and request["key"] == f"{attempt.send_id}-SMS"
    assert attempt.outcome == AttemptOutcome.SENT and attempt.provider_answer == '200 {"accepted": true}'


def test_a_gateway_refusal_is_final_and_a_server_error_is_tried_again(webhook, clock):
    person = person_in(resend_cooldown_seconds=0)
    webhook.status = 400
    issue(person)
    run_worker()
    webhook.status = 503
    issue(person)
    run_worker()
    outcomes = list(DeliveryAttempt.objects.order_by("id").values_list("outcome", "provider_answer"))
    assert outcomes == [
        (AttemptOutcome.FAILED, 'The SMS gateway answered 400 {"accepted": true}'),
        (AttemptOutcome.RETRY, 'The SMS gateway answered 503 {"accepted": true}'),
    ]
    webhook.status = 200
    clock.advance(seconds=30)
    run_worker()
    assert DeliveryAttempt.objects.order_by("-id").values_list("outcome", flat=True)[0] == AttemptOutcome.SENT


def test_a_gateway_that_never_answers_times_out_on_the_worker_and_is_tried_again(settings):
    settings.OTPSITE_SMS_BACKEND = "credentials.delivery.WebhookSmsBackend"
    settings.OTPSITE_SMS_WEBHOOK_TIMEOUT = 1
    with Stalled() as gateway:
        settings.OTPSITE_SMS_WEBHOOK_URL = gateway.url
        issue(person_in())
        run_worker()
    attempt = DeliveryAttempt.objects.get()
    assert attempt.outcome == AttemptOutcome.RETRY and "did not answer within 1 s" in attempt.provider_answer
    assert attempt.duration_ms >= 1000 and queued() == 0
    assert DeliveryAttempt.objects.count() == 1  # the next try waits for its backoff


def test_a_mail_server_that_never_answers_times_out_on_the_worker_and_is_tried_again(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_TIMEOUT = 1
    with Stalled() as server:
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
        result = issue(person_in(), channel=Channel.EMAIL)
        run_worker()
    attempt = DeliveryAttempt.objects.get()
    assert attempt.outcome == AttemptOutcome.RETRY and "did not answer within 1 s" in attempt.provider_answer
    assert attempt.duration_ms >= 1000
    assert IssuedCode.objects.get(pk=result.code.pk).delivery_status == DeliveryStatus.PENDING
