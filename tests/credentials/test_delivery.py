import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.test import override_settings

from credentials import delivery


class Gateway(BaseHTTPRequestHandler):
    received: list = []
    status = 200

    def do_POST(self):
        length = int(self.headers["Content-Length"])
        Gateway.received.append((self.headers.get("Authorization"), json.loads(self.rfile.read(length))))
        self.send_response(Gateway.status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def gateway():
    Gateway.received = []
    Gateway.status = 200
    server = HTTPServer(("127.0.0.1", 0), Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/send"
    server.shutdown()


def test_the_webhook_backend_posts_json_with_the_token(gateway):
    with override_settings(OTPSITE_SMS_WEBHOOK_URL=gateway, OTPSITE_SMS_WEBHOOK_TOKEN="s3cret"):
        delivery.WebhookSmsBackend().send(delivery.SmsMessage(to="+491510", body="Code 123"))
    assert Gateway.received == [
        ("Bearer s3cret", {"to": "+491510", "body": "Code 123", "channel": "SMS", "speak": False})
    ]


def test_the_webhook_says_the_channel_and_that_a_voice_code_is_spoken(gateway):
    with override_settings(
        OTPSITE_SMS_WEBHOOK_URL=gateway, OTPSITE_VOICE_BACKEND="credentials.delivery.WebhookSmsBackend"
    ):
        delivery.send_gateway(
            channel="VOICE", to="+491510", code="1234", scope="GENERIC", valid_minutes=5, templates=delivery.Templates()
        )
    [(_, payload)] = Gateway.received
    assert (payload["channel"], payload["speak"], payload["to"]) == ("VOICE", True, "+491510")
    assert "1, 2, 3, 4" in payload["body"] and "template" not in payload


def test_the_webhook_carries_the_whatsapp_template(gateway):
    with override_settings(
        OTPSITE_SMS_WEBHOOK_URL=gateway, OTPSITE_WHATSAPP_BACKEND="credentials.delivery.WebhookSmsBackend"
    ):
        delivery.send_gateway(
            channel="WHATSAPP",
            to="+491510",
            code="1234",
            scope="GENERIC",
            valid_minutes=5,
            templates=delivery.Templates(whatsapp_template="otp_v2"),
        )
    [(_, payload)] = Gateway.received
    assert (payload["channel"], payload["speak"], payload["template"]) == ("WHATSAPP", False, "otp_v2")
    assert "1234" in payload["body"]


def test_a_channel_without_a_backend_is_unavailable():
    with override_settings(OTPSITE_ZALO_BACKEND=""):
        assert not delivery.channel_available("ZALO") and delivery.channel_available("EMAIL")
        with pytest.raises(delivery.DeliveryError):
            delivery.gateway_backend("ZALO")


def test_a_gateway_error_is_a_delivery_error(gateway):
    Gateway.status = 502
    with override_settings(OTPSITE_SMS_WEBHOOK_URL=gateway), pytest.raises(delivery.DeliveryError):
        delivery.WebhookSmsBackend().send(delivery.SmsMessage(to="+491510", body="Code 123"))


def test_an_unreachable_gateway_is_a_delivery_error():
    with (
        override_settings(OTPSITE_SMS_WEBHOOK_URL="http://127.0.0.1:9/send", OTPSITE_SMS_WEBHOOK_TIMEOUT=2),
        pytest.raises(delivery.DeliveryError),
    ):
        delivery.WebhookSmsBackend().send(delivery.SmsMessage(to="+491510", body="Code 123"))


def test_the_backend_is_chosen_by_setting():
    with override_settings(OTPSITE_SMS_BACKEND="credentials.delivery.ConsoleSmsBackend"):
        assert isinstance(delivery.sms_backend(), delivery.ConsoleSmsBackend)
