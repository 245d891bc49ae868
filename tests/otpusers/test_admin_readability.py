"""The console reads as staff expect: whole permission names grouped by surface, "Unlimited" rather than
-1, audit times to the second with date and action filters, one email per person, channels in words, a
card print without the admin around it, and no "View site" link to a page that does not exist."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from credentials import services as credential_services
from otpusers.audit import Actor, audit_record
from otpusers.models import AuditEvent
from otpusers.registry import API_PERMISSIONS
from tests.credentials.helpers import issue, person_in
from tests.factories import AppAccessFactory

pytestmark = pytest.mark.django_db


def test_api_key_permissions_are_whole_names_grouped_by_surface(superuser_client):
    form = superuser_client.get(reverse("admin:otpusers_apikey_add")).context["adminform"].form
    groups = dict(form.fields["permissions"].choices)
    assert list(groups) == ["Applivery", "Capillary", "myKaarma manage", "nevisIDM"]
    offered = {name for choices in groups.values() for name, _ in choices}
    assert offered == set(API_PERMISSIONS)
    assert all(label.endswith(f"({name})") for choices in groups.values() for name, label in choices)


def test_unlimited_downloads_read_unlimited(superuser_client):
    AppAccessFactory(allowed_downloads_num=-1)
    response = superuser_client.get(reverse("admin:otpusers_appaccess_changelist"))
    row = response.context["cl"].result_list[0]
    assert response.context["cl"].model_admin.allowance(row) == "Unlimited"
    assert '<td class="field-allowance' in response.content.decode()
    change = superuser_client.get(reverse("admin:otpusers_appaccess_change", args=[row.pk])).content.decode()
    assert "Unlimited" in change


def event_at(action: str, when: datetime) -> AuditEvent:
    event = audit_record(actor=Actor.system("tests"), action=action, organization=None)
    AuditEvent.objects.filter(pk=event.pk).update(created_at=when)
    return event


def test_audit_times_to_the_second_with_date_and_action_filters(superuser_client):
    first = datetime(2026, 3, 10, 9, 30, 17, tzinfo=UTC)
    event_at("code.issue", first)
    event_at("card.update", first + timedelta(days=1))
    event_at("code.issue", first + timedelta(days=2))
    changelist = reverse("admin:otpusers_auditevent_changelist")
    assert "2026-03-10 09:30:17" in superuser_client.get(changelist).content.decode()
    days = superuser_client.get(changelist, {"created_at_from": "2026-03-10", "created_at_to": "2026-03-11"})
    assert len(days.context["cl"].result_list) == 2
    issued = superuser_client.get(changelist, {"action": "code.issue"})
    assert {event.action for event in issued.context["cl"].result_list} == {"code.issue"}
    assert len(issued.context["cl"].result_list) == 2


def test_the_people_list_shows_each_email_once(superuser_client):
    access = AppAccessFactory(otp_user__first_name="Ana", otp_user__last_name="Garcia")
    body = superuser_client.get(reverse("admin:otpusers_otpuser_changelist")).content.decode()
    assert body.count(access.otp_user.email) == 1
    assert "Ana Garcia" in body


def test_channels_read_as_words(superuser_client):
    issued = issue(person_in()).code
    body = superuser_client.get(reverse("admin:credentials_issuedcode_change", args=[issued.pk])).content.decode()
    assert "[&quot;SMS&quot;]" not in body and '["SMS"]' not in body
    assert ">SMS<" in body.replace("\n", "").replace(" ", "")


def test_the_print_page_holds_the_card_only(superuser_client):
    card = credential_services.card_create(person=person_in(), actor=Actor.system("tests"))
    body = superuser_client.get(reverse("admin:credentials_otpcard_print", args=[card.pk])).content.decode()
    assert 'id="nav-sidebar"' not in body and "sidebar" not in body.lower()
    assert "otp-card" in body


def test_no_view_site_link(superuser_client):
    body = superuser_client.get(reverse("admin:index")).content.decode()
    assert "View site" not in body


def test_audit_day_range_ends_with_the_last_day_included(superuser_client):
    event_at("code.issue", datetime(2026, 5, 1, 23, 59, tzinfo=UTC))
    event_at("code.issue", datetime(2026, 5, 2, 0, 1, tzinfo=UTC))
    one_day = superuser_client.get(
        reverse("admin:otpusers_auditevent_changelist"),
        {"created_at_from": "2026-05-01", "created_at_to": "2026-05-01"},
    )
    assert [event.created_at.day for event in one_day.context["cl"].result_list] == [1]
