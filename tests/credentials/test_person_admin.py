"""A person's page: send a code (through code_issue, as the API does) and issue a card."""

import pytest
from django.urls import reverse

from credentials.models import IssuedCode, OtpCard
from otpusers.models import AuditEvent
from tests.credentials.helpers import last_sms_code, person_in
from tests.delivery import run_worker

pytestmark = pytest.mark.django_db


def test_send_a_code_from_the_persons_page(superuser_client, sms_outbox):
    person = person_in()
    url = reverse("admin:otpusers_otpuser_send_code", args=[person.pk])
    assert url in superuser_client.get(reverse("admin:otpusers_otpuser_change", args=[person.pk])).content.decode()
    assert superuser_client.get(url).status_code == 200
    response = superuser_client.post(url, {"scope": "COUPON", "channel": "SMS"})
    assert response.status_code == 302
    issued = IssuedCode.objects.get(otp_user=person)
    assert (issued.scope, issued.channels, issued.delivery_status) == ("COUPON", ["SMS"], "pending")
    assert issued.surface == "admin"
    run_worker()
    issued.refresh_from_db()
    assert issued.delivery_status == "sent"
    assert last_sms_code() and sms_outbox[-1].to == person.mobile
    assert AuditEvent.objects.filter(action="code.issue", user__username="root", object_id=issued.public_id)
    # The code never shows on the person's page.
    assert last_sms_code() not in superuser_client.get(response["Location"]).content.decode()


def test_send_a_code_on_a_channel_the_person_has_no_address_for_is_refused(superuser_client):
    person = person_in()
    person.email = ""
    person.save()
    response = superuser_client.post(
        reverse("admin:otpusers_otpuser_send_code", args=[person.pk]), {"scope": "GENERIC", "channel": "EMAIL"}
    )
    assert response.status_code == 200 and "no email" in response.content.decode()
    assert not IssuedCode.objects.exists()


def test_issue_a_card_from_the_persons_page(superuser_client):
    person = person_in()
    url = reverse("admin:otpusers_otpuser_issue_card", args=[person.pk])
    assert superuser_client.get(url).status_code == 200
    response = superuser_client.post(url, {"ext_id": "desk-1"})
    card = OtpCard.objects.get(otp_user=person)
    assert response["Location"] == reverse("admin:credentials_otpcard_change", args=[card.pk])
    assert card.ext_id == "desk-1"
    assert AuditEvent.objects.filter(action="card.create", user__username="root").exists()
    superuser_client.post(url, {})
    third = superuser_client.post(url, {}, follow=True)
    assert "at most 2 cards" in third.content.decode()
    assert OtpCard.objects.filter(otp_user=person).count() == 2
