"""Staff per organization: a staff user who is not a superuser finds only their organizations' objects in
every changelist, change form, history, foreign-key choice, autocomplete, related filter and action."""

import uuid
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from credentials import services as credential_services
from credentials.choices import CardState, Channel, IdentifierType, Scope, Surface
from credentials.models import CardPolicy, IssuedCode, NewBuildEmail, OtpCard
from otpusers.audit import Actor, audit_record
from otpusers.models import ApiKey, AppAccess, AuditEvent, Organization, OtpUser, PublishedApplication, Store
from tests.factories import AppAccessFactory, OrganizationFactory, UserFactory, make_api_key

pytestmark = pytest.mark.django_db

ACTOR = Actor.system("tests")
MODELS = [
    Organization,
    Store,
    PublishedApplication,
    OtpUser,
    AppAccess,
    ApiKey,
    AuditEvent,
    IssuedCode,
    OtpCard,
    CardPolicy,
    NewBuildEmail,
]


@dataclass
class Tenant:
    objects: dict

    def __getitem__(self, model):
        return self.objects[model]


def make_tenant(label: str) -> Tenant:
    access = AppAccessFactory(otp_user__mobile=f"+49151000{len(label):05d}{ord(label[0])}")
    person = access.otp_user
    organization = person.organization
    api_key, _ = make_api_key(organization, "mad.store.otpUsers.get", name=f"key {label}")
    issued = credential_services.code_issue(
        organization=organization,
        identifier_type=IdentifierType.MOBILE,
        identifier_value=person.mobile,
        scope=Scope.GENERIC,
        destinations=[credential_services.Destination(Channel.SMS, "")],
        actor=ACTOR,
        surface=Surface.INTERNAL,
    ).code
    card = credential_services.card_create(person=person, ext_id=f"card-{label}", actor=ACTOR)
    event = audit_record(actor=ACTOR, action="test.event", organization=organization, target=person)
    told = NewBuildEmail.objects.create(
        organization=organization,
        send_id=uuid.uuid4(),
        otp_user=person,
        published_application=access.published_application,
        email=f"{label}@example.com",
    )
    return Tenant(
        {
            Organization: organization,
            Store: access.published_application.store,
            PublishedApplication: access.published_application,
            OtpUser: person,
            AppAccess: access,
            ApiKey: api_key,
            AuditEvent: event,
            IssuedCode: issued,
            OtpCard: card,
            CardPolicy: card.policy,
            NewBuildEmail: told,
        }
    )


@pytest.fixture
def tenants():
    return make_tenant("a"), make_tenant("b")


@pytest.fixture
def staff_of_a(client, tenants):
    """A staff user of organization A holding every otpsite permission, signed in."""
    user = UserFactory(username="staff-a")
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label__in=["otpusers", "credentials"]))
    tenants[0][Organization].staff.add(user)
    client.force_login(user)
    return client


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_the_changelist_lists_only_the_staff_users_organizations(staff_of_a, tenants, model):
    own, other = tenants[0][model], tenants[1][model]
    response = staff_of_a.get(admin_url(model, "changelist"))
    assert response.status_code == 200
    listed = {obj.pk for obj in response.context["cl"].result_list}
    assert own.pk in listed and other.pk not in listed
    assert str(tenants[1][Organization].name) not in response.content.decode()


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_another_organizations_change_form_and_history_are_not_found(staff_of_a, tenants, model):
    own, other = tenants[0][model], tenants[1][model]
    assert staff_of_a.get(admin_url(model, "change", own.pk)).status_code == 200
    assert staff_of_a.get(admin_url(model, "history", own.pk)).status_code == 200
    for view in ("change", "history"):
        response = staff_of_a.get(admin_url(model, view, other.pk))
        # The admin answers a missing object by sending the user back to the index with a message.
        assert response.status_code == 302, view
        assert response["Location"] == reverse("admin:index"), view
    # Read-only models refuse deleting anything (403) before looking the object up.
    assert staff_of_a.get(admin_url(model, "delete", other.pk)).status_code in (302, 403)


@pytest.mark.parametrize(
    ("model", "field", "related"),
    [
        (Store, "organization", Organization),
        (PublishedApplication, "store", Store),
        (OtpUser, "organization", Organization),
        (AppAccess, "otp_user", OtpUser),
        (AppAccess, "published_application", PublishedApplication),
        (ApiKey, "organization", Organization),
        (OtpCard, "otp_user", OtpUser),
        (OtpCard, "policy", CardPolicy),
        (CardPolicy, "organization", Organization),
    ],
)
def test_foreign_key_choices_and_autocomplete_offer_only_own_objects(staff_of_a, tenants, model, field, related):
    form = staff_of_a.get(admin_url(model, "add")).context["adminform"].form
    choices = set(form.fields[field].queryset.values_list("pk", flat=True))
    assert tenants[0][related].pk in choices and tenants[1][related].pk not in choices
    autocomplete = staff_of_a.get(
        reverse("admin:autocomplete"),
        {"app_label": model._meta.app_label, "model_name": model._meta.model_name, "field_name": field, "term": ""},
    )
    if autocomplete.status_code == 200:
        offered = {int(result["id"]) for result in autocomplete.json()["results"]}
        assert tenants[1][related].pk not in offered


def test_a_posted_foreign_key_of_another_organization_is_refused(staff_of_a, tenants):
    other_person = tenants[1][OtpUser]
    response = staff_of_a.post(
        admin_url(AppAccess, "add"),
        {
            "otp_user": other_person.pk,
            "published_application": tenants[0][PublishedApplication].pk,
            "allowed_downloads_num": "1",
        },
    )
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not AppAccess.objects.filter(otp_user=other_person, published_application=tenants[0][PublishedApplication])


@pytest.mark.parametrize(
    ("model", "parameter"),
    [
        (Store, "organization__id__exact"),
        (OtpUser, "organization__id__exact"),
        (ApiKey, "organization__id__exact"),
        (AuditEvent, "organization__id__exact"),
        (IssuedCode, "organization__id__exact"),
        (OtpCard, "organization__id__exact"),
        (CardPolicy, "organization__id__exact"),
        (AppAccess, "organization"),
    ],
)
def test_related_filters_offer_only_own_organizations(staff_of_a, tenants, model, parameter):
    # With one organization the filter would have one choice and hide itself: give the user a second.
    OrganizationFactory().staff.add(tenants[0][Organization].staff.get())
    response = staff_of_a.get(admin_url(model, "changelist"))
    offered = [
        choice.get("query_string", "")
        for spec in response.context["cl"].filter_specs
        for choice in spec.choices(response.context["cl"])
    ]
    assert not any(f"{parameter}={tenants[1][Organization].pk}" in query for query in offered)
    assert any(f"{parameter}={tenants[0][Organization].pk}" in query for query in offered)


def test_actions_on_another_organizations_objects_change_nothing(staff_of_a, tenants):
    other_key, other_card, other_code = tenants[1][ApiKey], tenants[1][OtpCard], tenants[1][IssuedCode]
    staff_of_a.post(admin_url(ApiKey, "changelist"), {"action": "revoke", "_selected_action": [other_key.pk]})
    staff_of_a.post(
        admin_url(OtpCard, "changelist"),
        {"action": "disable", "_selected_action": [other_card.pk], "apply": "yes", "reason": "stolen"},
    )
    staff_of_a.post(admin_url(IssuedCode, "changelist"), {"action": "revoke", "_selected_action": [other_code.pk]})
    other_key.refresh_from_db()
    other_card.refresh_from_db()
    other_code.refresh_from_db()
    assert other_key.revoked_at is None
    assert other_card.state == CardState.INITIAL
    assert other_code.revoked_at is None
    # Their own sign-in is audited (otpusers/sign_in_audit.py); nothing else they did is.
    assert not AuditEvent.objects.filter(user__username="staff-a").exclude(action="staff.sign_in").exists()


def test_actions_on_own_objects_work(staff_of_a, tenants):
    own_key = tenants[0][ApiKey]
    staff_of_a.post(admin_url(ApiKey, "changelist"), {"action": "revoke", "_selected_action": [own_key.pk]})
    own_key.refresh_from_db()
    assert own_key.revoked_at is not None


def test_a_staff_user_of_no_organization_sees_nothing(client, tenants):
    user = UserFactory(username="nobody")
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label__in=["otpusers", "credentials"]))
    client.force_login(user)
    for model in MODELS:
        assert list(client.get(admin_url(model, "changelist")).context["cl"].result_list) == [], model


def test_a_superuser_sees_every_organization(superuser_client, tenants):
    for model in MODELS:
        listed = {obj.pk for obj in superuser_client.get(admin_url(model, "changelist")).context["cl"].result_list}
        assert {tenants[0][model].pk, tenants[1][model].pk} <= listed, model


def test_only_superusers_change_who_is_staff(staff_of_a, tenants):
    form = staff_of_a.get(admin_url(Organization, "change", tenants[0][Organization].pk)).context["adminform"]
    assert "staff" not in form.form.fields
