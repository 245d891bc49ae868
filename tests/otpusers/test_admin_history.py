"""History is the audit trail: an object's History lists its audit events, and the person, card and key
pages link to the audit list filtered to them."""

import pytest
from django.urls import reverse

from credentials import services as credential_services
from otpusers import services
from otpusers.audit import Actor
from otpusers.models import AuditEvent
from tests.factories import AppAccessFactory, make_api_key

pytestmark = pytest.mark.django_db


def test_history_lists_the_objects_audit_events_from_every_actor(superuser_client):
    access = AppAccessFactory()
    person = access.otp_user
    services.otp_user_deactivate(person=person, reason="fraud suspected", actor=Actor.system("nightly job"))
    superuser_client.post(
        reverse("admin:otpusers_appaccess_reset_downloads", args=[access.pk]), {"reason": "support ticket 12"}
    )
    body = superuser_client.get(reverse("admin:otpusers_otpuser_history", args=[person.pk])).content.decode()
    assert "otp_user.deactivate" in body and "fraud suspected" in body and "nightly job" in body
    assert "doesn’t have a change history" not in body and "support ticket 12" not in body
    access_history = superuser_client.get(reverse("admin:otpusers_appaccess_history", args=[access.pk]))
    body = access_history.content.decode()
    assert "app_access.reset_downloads" in body and "support ticket 12" in body and "127.0.0.1" in body


@pytest.mark.parametrize("kind", ["person", "card", "key"])
def test_person_card_and_key_pages_link_to_their_filtered_audit_list(superuser_client, kind):
    access = AppAccessFactory()
    person = access.otp_user
    actor = Actor.system("tests")
    make_api_key(person.organization, name="another object, with its own events")
    if kind == "person":
        target, view = person, "otpusers_otpuser"
        services.otp_user_deactivate(person=person, reason="r", actor=actor)
    elif kind == "card":
        target, view = credential_services.card_create(person=person, actor=actor), "credentials_otpcard"
    else:
        target, view = make_api_key(person.organization)[0], "otpusers_apikey"
    assert AuditEvent.objects.exclude(object_id=str(getattr(target, "public_id", target.pk))).exists()
    link = reverse(f"admin:{view}_audit_trail", args=[target.pk])
    assert link in superuser_client.get(reverse(f"admin:{view}_change", args=[target.pk])).content.decode()
    redirect = superuser_client.get(link)
    assert redirect.status_code == 302
    listed = superuser_client.get(redirect["Location"]).context["cl"].result_list
    assert listed and all(event.object_type == target._meta.model_name for event in listed)
    assert {event.object_id for event in listed} == {str(getattr(target, "public_id", target.pk))}
