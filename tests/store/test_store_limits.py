"""The store page's client limits: nothing an anonymous visitor does can deny a person their codes."""

import base64
import hashlib
from datetime import UTC, datetime

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from credentials.choices import Scope
from credentials.models import IssuedCode
from tests.delivery import run_worker
from tests.factories import AppAccessFactory, make_api_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def access():
    access = AppAccessFactory(
        otp_user__email="person@example.com", otp_user__mobile="+4915100000001", otp_user__user_name="person"
    )
    organization = access.published_application.store.organization
    organization.resend_cooldown_seconds = 0  # only the client limits stand between a visitor and the sends
    organization.save()
    return access


@pytest.fixture
def behind_a_proxy(settings):
    settings.OTPSITE_TRUSTED_PROXIES = ["127.0.0.1"]


@pytest.fixture
def morning(clock):
    clock.now = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # windows are fixed: start well inside one
    return clock


def request_url(access) -> str:
    application = access.published_application
    return reverse("store:request_code", args=[application.store.slug, application.slug])


def ask_from(address: str, url: str, email: str):
    """One request from a fresh session, through the trusted proxy, for a client at `address`."""
    return Client(HTTP_X_FORWARDED_FOR=f"198.51.100.99, {address}").post(url, {"email": email})


def emails_to(address: str) -> int:
    """Emails delivered to the address, once the delivery worker has sent what the requests queued."""
    run_worker()
    return sum(message.to == [address] for message in mail.outbox)


def test_a_thousand_requests_from_a_thousand_addresses_send_the_budget_and_the_api_still_sends(
    access, behind_a_proxy, morning
):
    url = request_url(access)
    answers = []
    for burst in range(10):
        for index in range(100):
            answers.append(ask_from(f"2001:db8::{burst:x}:{index:x}", url, "Person@Example.com").status_code)
        if burst == 0:
            assert emails_to("person@example.com") == 3  # 3 per 15 minutes
        morning.advance(minutes=16)
    assert emails_to("person@example.com") == 10  # and 10 a day
    assert answers.count(302) == 10 and answers.count(429) == 990
    assert IssuedCode.objects.filter(otp_user=access.otp_user, scope=Scope.STORE_LOGIN).count() == 10

    # The person's own daily limit (10, the default) is untouched: Capillary and manage still send codes.
    organization = access.published_application.store.organization
    api_key, token = make_api_key(organization, "capillary.otp.write", "manage.otp.send")
    secret = token.split(".", 1)[1]
    capillary = APIClient()
    capillary.credentials(
        HTTP_AUTHORIZATION="Basic "
        + base64.b64encode(f"{api_key.key_id}:{hashlib.md5(secret.encode()).hexdigest()}".encode()).decode()
    )
    generated = capillary.post(
        "/v2/otp/generate",
        {"entityType": "MOBILE", "entityValue": "+4915100000001", "action": "COUPON", "channels": [{"type": "SMS"}]},
        format="json",
    )
    assert generated.status_code == 200, generated.json()
    manage = APIClient()
    manage.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{api_key.key_id}:{secret}".encode()).decode())
    sent = manage.post(
        "/manage/v2/user/send/otp",
        {"userName": "person", "phoneNumber": "+4915100000001", "channel": "sms"},
        format="json",
    )
    assert sent.status_code == 200, sent.json()


def test_the_refusal_is_a_429_with_retry_after_and_the_same_for_an_email_without_access(
    access, behind_a_proxy, morning
):
    url = request_url(access)
    for email in ("person@example.com", "nobody@example.com"):
        for index in range(3):
            assert ask_from(f"203.0.113.{index + 1}", url, email).status_code == 302
        refused = ask_from("203.0.113.9", url, email)
        assert refused.status_code == 429
        assert refused["Retry-After"] == str(15 * 60)  # the 15-minute window started at 08:00
        assert "Too many requests" in refused.content.decode()
    assert emails_to("person@example.com") == 3


def test_one_address_gets_its_own_budget_whatever_it_forwards(access, settings, morning):
    settings.OTPSITE_STORE_CODE_REQUESTS_PER_IP = ((30, 3600),)
    url = request_url(access)
    statuses = [
        # No proxy is trusted: the forwarded address is the client's own claim and is ignored.
        Client(HTTP_X_FORWARDED_FOR=f"203.0.113.{index}").post(url, {"email": f"p{index}@example.com"}).status_code
        for index in range(40)
    ]
    assert statuses == [302] * 30 + [429] * 10
    morning.advance(hours=1)
    assert Client().post(url, {"email": "later@example.com"}).status_code == 302


def test_wrong_codes_from_one_address_are_refused_after_the_limit(access, settings, morning):
    settings.OTPSITE_AUTH_FAILURES_PER_IP = ((5, 900),)
    application = access.published_application
    verify = reverse("store:verify_code", args=[application.store.slug, application.slug])
    statuses = []
    for index in range(8):
        client = Client()
        client.post(request_url(access), {"email": f"guess{index}@example.com"})
        statuses.append(client.post(verify, {"code": "000000"}).status_code)
    assert statuses == [302] * 5 + [429] * 3
