import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from credentials import services
from credentials.choices import CardState
from credentials.models import CardPolicy, OtpCard
from otpusers.models import AuditEvent
from tests.credentials.card_helpers import ACTOR, card_holder
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def card():
    return services.card_create(person=card_holder(), ext_id="otp-1", actor=ACTOR)


def test_pages_render_and_never_show_the_cells(superuser_client, card):
    cells = services.card_cells(card)
    grid = "".join(cells)
    pages = [
        reverse("admin:credentials_otpcard_changelist"),
        reverse("admin:credentials_otpcard_changelist") + "?q=otp-1",
        reverse("admin:credentials_otpcard_changelist") + "?challenges=low",
        reverse("admin:credentials_otpcard_change", args=[card.pk]),
        reverse("admin:credentials_otpcard_add"),
        reverse("admin:otpusers_otpuser_change", args=[card.otp_user.pk]),
        reverse("admin:credentials_cardpolicy_changelist"),
        reverse("admin:credentials_cardpolicy_change", args=[card.policy.pk]),
        reverse("admin:credentials_cardpolicy_add"),
    ]
    for url in pages:
        response = superuser_client.get(url)
        assert response.status_code == 200, url
        body = response.content.decode()
        assert grid not in body and card.grid_sealed not in body, url
    assert "otp-1" in superuser_client.get(pages[1]).content.decode()


def test_the_print_page_shows_the_card_to_those_allowed_and_is_audited(client, card):
    url = reverse("admin:credentials_otpcard_print", args=[card.pk])
    staff = UserFactory(username="printer")
    card.organization.staff.add(staff)
    staff.user_permissions.add(Permission.objects.get(codename="view_otpcard"))
    client.force_login(staff)
    assert client.get(url).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="print_otpcard"))
    response = client.get(url)
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    body = response.content.decode()
    assert all(cell in body for cell in services.card_cells(card)) and "168" in body
    assert AuditEvent.objects.get(action="card.read_back", user=staff).object_id == card.public_id


@pytest.mark.parametrize(("action", "state"), [("disable", "disabled"), ("archive", "archived")])
def test_state_actions_ask_for_a_reason(superuser_client, card, action, state):
    changelist = reverse("admin:credentials_otpcard_changelist")
    asked = superuser_client.post(changelist, {"action": action, "_selected_action": [card.pk]})
    assert asked.status_code == 200 and "give a reason" in asked.content.decode()
    assert OtpCard.objects.get(pk=card.pk).state == CardState.INITIAL
    superuser_client.post(
        changelist, {"action": action, "_selected_action": [card.pk], "apply": "yes", "reason": "lost the card"}
    )
    stored = OtpCard.objects.get(pk=card.pk)
    assert (stored.state, stored.state_change_reason) == (state, "lost the card")
    assert AuditEvent.objects.filter(action="card.update", reason="lost the card", user__username="root").exists()


def test_unlock_and_replace(superuser_client, card):
    services.card_set_state(card=card, state=CardState.DISABLED, actor=ACTOR)
    changelist = reverse("admin:credentials_otpcard_changelist")
    form = {"_selected_action": [card.pk], "apply": "yes", "reason": "helpdesk ticket 7"}
    superuser_client.post(changelist, {**form, "action": "unlock"})
    assert OtpCard.objects.get(pk=card.pk).state == CardState.ACTIVE
    superuser_client.post(changelist, {**form, "action": "replace"})
    assert services.card_cells(OtpCard.objects.get(pk=card.pk)) != services.card_cells(card)
    assert AuditEvent.objects.filter(action="card.replace", reason="helpdesk ticket 7").exists()


def test_adding_a_card_goes_through_the_service(superuser_client):
    person = card_holder()
    policy = services.card_policy_default(organization=person.organization)
    response = superuser_client.post(
        reverse("admin:credentials_otpcard_add"), {"otp_user": person.pk, "policy": policy.pk, "ext_id": ""}
    )
    assert response.status_code == 302
    created = OtpCard.objects.get(otp_user=person)
    assert (
        created.cells_remaining == 168
        and AuditEvent.objects.filter(action="card.create", user__username="root").exists()
    )


def test_policies_are_editable(superuser_client, card):
    url = reverse("admin:credentials_cardpolicy_change", args=[card.policy.pk])
    response = superuser_client.post(
        url,
        {
            "organization": card.organization.pk,
            "name": "Strict",
            "ext_id": "default",
            "is_default": "on",
            "rows": 10,
            "cols": 10,
            "cell_length": 3,
            "credential_lifetime_days": 365,
            "low_on_challenges_threshold": 10,
            "max_cred_failure_count": 5,
            "tmp_locking_threshold": -1,
            "tmp_locking_duration_seconds": 60,
            "tmp_locking_mode": "threshold",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert CardPolicy.objects.get(pk=card.policy.pk).rows == 10


@pytest.mark.parametrize(("action", "state"), [("unlock", "active"), ("disable", "disabled"), ("archive", "archived")])
def test_state_actions_on_the_cards_own_page_ask_a_reason(superuser_client, card, action, state):
    services.card_set_state(card=card, state=CardState.ACTIVE, actor=ACTOR)
    services.card_set_state(card=card, state=CardState.DISABLED, actor=ACTOR)
    url = reverse(f"admin:credentials_otpcard_{action}_card", args=[card.pk])
    page = superuser_client.get(reverse("admin:credentials_otpcard_change", args=[card.pk])).content.decode()
    assert url in page
    asked = superuser_client.post(url, {})
    assert asked.status_code == 200 and "This field is required" in asked.content.decode()
    assert OtpCard.objects.get(pk=card.pk).state == CardState.DISABLED
    response = superuser_client.post(url, {"reason": "called the help desk"})
    assert response.status_code == 302
    if action == "disable":  # already disabled: the transition table refuses, and says so
        assert OtpCard.objects.get(pk=card.pk).state == CardState.DISABLED
        return
    stored = OtpCard.objects.get(pk=card.pk)
    assert (stored.state, stored.state_change_reason) == (state, "called the help desk")
    assert AuditEvent.objects.filter(action="card.update", reason="called the help desk", user__username="root")


def test_replace_on_the_cards_own_page_makes_a_new_grid(superuser_client, card):
    before = services.card_cells(card)
    superuser_client.post(reverse("admin:credentials_otpcard_replace_card", args=[card.pk]), {"reason": "worn out"})
    assert services.card_cells(OtpCard.objects.get(pk=card.pk)) != before
    assert AuditEvent.objects.filter(action="card.replace", reason="worn out").exists()
