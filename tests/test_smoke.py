"""The production profile, started as deploy/ says (`bin/serve`: gunicorn with deploy/gunicorn.conf.py and
two workers, the delivery worker, each from its systemd unit's ExecStart), with a real SMTP server and an SMS
webhook on loopback: a code through each sending surface is received, verified, and counted in /metrics."""

import base64
import hashlib
import os
import re
import signal
import subprocess
import time

import httpx
import pytest
from django.conf import settings

from tests.credentials.test_worker import database_url
from tests.factories import (
    AppAccessFactory,
    OrganizationFactory,
    OtpUserFactory,
    PublishedApplicationFactory,
    make_api_key,
)
from tests.sinks import MailSink, WebhookSink, free_port

pytestmark = pytest.mark.django_db(transaction=True)
METRICS_TOKEN = "smoke-metrics-token"


def basic(login: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(login.encode()).decode()}


@pytest.fixture
def served():
    """bin/serve on the test database, with the sinks as its mail server and SMS gateway."""
    with MailSink() as mail, WebhookSink() as sms:
        port = free_port()
        environment = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "OTPSITE_"))}
        environment.update(
            DJANGO_SETTINGS_MODULE="otpsite.settings",
            DATABASE_URL=database_url(),
            OTPSITE_SERVE_NO_DEMO="1",
            OTPSITE_BIND=f"127.0.0.1:{port}",
            GUNICORN_WORKERS="2",
            OTPSITE_METRICS_TOKEN=METRICS_TOKEN,
            DJANGO_EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            DJANGO_EMAIL_HOST="127.0.0.1",
            DJANGO_EMAIL_PORT=str(mail.port),
            OTPSITE_SMS_BACKEND="credentials.delivery.WebhookSmsBackend",
            OTPSITE_SMS_WEBHOOK_URL=sms.url,
            OTPSITE_SMS_WEBHOOK_TOKEN="gateway-token",
            OTPSITE_MEDIA_ROOT=str(settings.MEDIA_ROOT),
        )
        server = subprocess.Popen(["bin/serve"], cwd=settings.BASE_DIR, env=environment, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=base, timeout=30) as client:
                deadline = time.monotonic() + 120
                while True:
                    assert server.poll() is None, "bin/serve exited"
                    try:
                        if client.get("/readyz").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    assert time.monotonic() < deadline, "the production profile did not become ready"
                    time.sleep(0.5)
                yield client, mail, sms
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)


def test_the_production_profile_delivers_verifies_and_counts(served):
    client, mail, sms = served
    organization = OrganizationFactory(resend_cooldown_seconds=0)
    person = OtpUserFactory(organization=organization, user_name="smoke", mobile="+4915100000001")
    application = PublishedApplicationFactory(store__organization=organization)
    AppAccessFactory(published_application=application, otp_user=person)
    capillary_key, capillary_token = make_api_key(organization, "capillary.otp.write", "capillary.otp.read")
    capillary_secret_md5 = hashlib.md5(capillary_token.split(".", 1)[1].encode()).hexdigest()
    capillary = basic(f"{capillary_key.key_id}:{capillary_secret_md5}")
    manage_key, manage_token = make_api_key(organization, "manage.otp.send", "manage.otp.verify")
    manage = basic(f"{manage_key.key_id}:{manage_token.split('.', 1)[1]}")

    # Capillary, by SMS through the webhook.
    generate = {
        "entityType": "MOBILE",
        "entityValue": person.mobile,
        "action": "GENERIC",
        "channels": [{"type": "SMS"}],
    }
    assert client.post("/v2/otp/generate", json=generate, headers=capillary).status_code == 200
    assert sms.wait(lambda sink: len(sink.delivered) == 1, timeout=60)
    (message,) = sms.delivered
    assert message["to"] == person.mobile and message["auth"] == "Bearer gateway-token"
    code = re.search(r"\b(\d{6})\b", message["body"]).group(1)
    validate = {"entityType": "MOBILE", "entityValue": person.mobile, "action": "GENERIC", "code": code}
    assert client.post("/v2/otp/validate", json=validate, headers=capillary).json() == {"entity": True, "warnings": []}

    # The manage surface, by email through the SMTP server.
    send = {"userName": "smoke", "phoneNumber": person.mobile, "channel": "email"}
    assert client.post("/manage/v2/user/send/otp", json=send, headers=manage).status_code == 200
    (email,) = mail.wait_for(1, timeout=60)
    assert email["To"] == person.email
    code = re.search(r"\b(\d{6})\b", email.get_payload()[0].get_payload()).group(1)
    verified = client.post(
        "/manage/v2/user/validate/otp",
        json={"userName": "smoke", "phoneNumber": person.mobile, "otp": code},
        headers=manage,
    )
    assert verified.status_code == 200 and verified.json()["errors"] == []

    # The store page, by email.
    page = f"/store/{application.store.slug}/{application.slug}/"
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', client.get(page).text).group(1)
    requested = client.post(page + "code/", data={"csrfmiddlewaretoken": token, "email": person.email})
    assert requested.status_code == 302
    email = mail.wait_for(2, timeout=60)[1]
    code = re.search(r"^\s+(\d{6})\s*$", email.get_payload()[0].get_payload(), re.M).group(1)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', client.get(page).text).group(1)
    signed_in = client.post(page + "verify/", data={"csrfmiddlewaretoken": token, "code": code}, follow_redirects=True)
    assert "Download the app" in signed_in.text

    ready = client.get("/readyz").json()
    assert ready["status"] == "ok" and ready["checks"]["worker"]["ok"] and ready["checks"]["queue"]["depth"] == 0
    assert client.get("/metrics").status_code == 403
    exposition = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text

    def total(name: str, **labels) -> float:
        pattern = re.compile(rf"^{name}\{{([^}}]*)\}} (\S+)$", re.M)
        return sum(
            float(value)
            for found, value in pattern.findall(exposition)
            if all(f'{key}="{wanted}"' in found for key, wanted in labels.items())
        )

    # Added up across both gunicorn workers and the delivery worker.
    assert total("otpsite_codes_issued_total") == 3
    assert total("otpsite_codes_issued_total", surface="store", channel="EMAIL") == 1
    assert total("otpsite_code_verifications_total", outcome="success") == 3
    assert total("otpsite_deliveries_total", outcome="sent") == 3
    assert re.search(r"^otpsite_delivery_queue_depth 0\.0$", exposition, re.M)
    assert total("otpsite_http_requests_total", route="readyz", status="200") >= 2
