"""The admin's big changelists (people, app accesses, audit events, issued codes, OTP cards) on tables big
enough to plan as at millions of rows: every default page, search and filter runs queries whose executed
plans use indexes (no sequential scan, no read or sort of more than a page and a bounded count need), in
a pinned number of statements; and each kind of search finds what it should."""

import hashlib
import uuid

import pytest
from django.urls import reverse

from tests import admin_at_scale as scale

pytestmark = pytest.mark.django_db

PERSON = 123_457  # in the big organization; its email is stored as person123457@example.com
CAPITALIZED = 123_450  # stored as Person123450@example.com


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    yield from scale.seeded_fixture(django_db_blocker)


def person_uuid(n: int) -> str:
    return str(uuid.UUID(hashlib.md5(f"uuid{n}".encode()).hexdigest()))


PEOPLE = reverse("admin:otpusers_otpuser_changelist")
ACCESSES = reverse("admin:otpusers_appaccess_changelist")
AUDIT = reverse("admin:otpusers_auditevent_changelist")
CODES = reverse("admin:credentials_issuedcode_changelist")
CARDS = reverse("admin:credentials_otpcard_changelist")

PAGES = {
    "people": (PEOPLE, {}),
    "people: exact email, other case": (PEOPLE, {"q": f"PERSON{PERSON}@Example.COM"}),
    "people: mobile": (PEOPLE, {"q": scale.mobile_of(PERSON)}),
    "people: user name": (PEOPLE, {"q": f"User{PERSON}"}),
    "people: nevisIDM ext id": (PEOPLE, {"q": f"ext-{PERSON}"}),
    "people: external id": (PEOPLE, {"q": f"X{PERSON:09d}"}),
    "people: id": (PEOPLE, {"q": str(PERSON)}),
    "people: small id": (PEOPLE, {"q": "42"}),
    "people: uuid": (PEOPLE, {"q": person_uuid(PERSON)}),
    "people: part of an email": (PEOPLE, {"q": f"son{PERSON}@exa"}),
    "people: part of a mobile": (PEOPLE, {"q": f"+4915100{PERSON}"[:-1]}),
    "people: a name and part of an email": (PEOPLE, {"q": f"{scale.FIRST_NAMES.split()[PERSON % 20]} son{PERSON}"}),
    "people: nothing found": (PEOPLE, {"q": "nobody-by-this-name"}),
    "people: not valid": (PEOPLE, {"is_valid__exact": "0"}),
    "people: valid": (PEOPLE, {"is_valid__exact": "1"}),
    "people: small organization": (PEOPLE, {"organization__id__exact": "{small}"}),
    "people: big organization": (PEOPLE, {"organization__id__exact": "{big}"}),
    "people: created in the past 7 days": (PEOPLE, {"created_at__gte": "{week_ago}"}),
    "people: created this year": (PEOPLE, {"created_at__gte": "{year_start}"}),
    "accesses": (ACCESSES, {}),
    "accesses: person's email": (ACCESSES, {"q": scale.email_of(PERSON).upper()}),
    "accesses: OTP-user id": (ACCESSES, {"q": "a" + f"{PERSON:x}".rjust(23, "0")}),
    "accesses: unlimited": (ACCESSES, {"downloads": "unlimited"}),
    "accesses: some left": (ACCESSES, {"downloads": "left"}),
    "accesses: none left": (ACCESSES, {"downloads": "none"}),
    "accesses: small organization": (ACCESSES, {"organization": "{small}"}),
    "accesses: sorted by creation": (ACCESSES, {"o": "7"}),
    "audit": (AUDIT, {}),
    "audit: object id": (AUDIT, {"q": f"{4242:024x}"}),
    "audit: request id": (AUDIT, {"q": hashlib.md5(b"request4242").hexdigest()}),
    "audit: rare action": (AUDIT, {"q": "card.login_rare"}),
    "audit: common action": (AUDIT, {"q": "code.verify"}),
    "audit: API key id": (AUDIT, {"q": "{api_key_id}"}),
    "audit: API key name": (AUDIT, {"q": "checkout SERVICE"}),
    "audit: staff user": (AUDIT, {"q": "auditor"}),
    "audit: failures": (AUDIT, {"outcome__exact": "failure"}),
    "audit: successes": (AUDIT, {"outcome__exact": "success"}),
    "audit: staff actors": (AUDIT, {"actor_type__exact": "staff"}),
    "audit: API key actors": (AUDIT, {"actor_type__exact": "api_key"}),
    "audit: small organization": (AUDIT, {"organization__id__exact": "{small}"}),
    "audit: oldest first": (AUDIT, {"o": "0"}),
    # The dashboard's links: verifications of a surface and scope over a window (their audit detail).
    "audit: verified on a surface, 30 days": (
        AUDIT,
        {
            "action": "code.verify",
            "outcome__exact": "success",
            "surface": "unknown",
            "created_at_from": "{month_ago_day}",
        },
    ),
    "audit: failed on a rare surface and scope, 30 days": (
        AUDIT,
        {
            "action": "code.verify",
            "outcome__exact": "failure",
            "surface": "store",
            "scope": "STORE_LOGIN",
            "created_at_from": "{month_ago_day}",
        },
    ),
    "audit: sorted by action (not offered)": (AUDIT, {"o": "1"}),
    "codes": (CODES, {}),
    "codes: recipient's email": (CODES, {"q": scale.email_of(PERSON).upper()}),
    "codes: recipient's mobile": (CODES, {"q": scale.mobile_of(PERSON)}),
    "codes: code id": (CODES, {"q": scale.code_public_id(4242)}),
    "codes: code number or person id": (CODES, {"q": "4242"}),
    "codes: nothing found": (CODES, {"q": "nobody@example.com"}),
    "codes: outstanding": (CODES, {"status": "outstanding"}),
    "codes: used": (CODES, {"status": "used"}),
    "codes: expired": (CODES, {"status": "expired"}),
    "codes: superseded": (CODES, {"status": "superseded"}),
    "codes: locked": (CODES, {"status": "locked"}),
    "codes: revoked": (CODES, {"status": "revoked"}),
    "codes: common scope": (CODES, {"scope__exact": "COUPON"}),
    "codes: rare scope": (CODES, {"scope__exact": "STORE_LOGIN"}),
    "codes: common surface": (CODES, {"surface__exact": "unknown"}),
    "codes: rare surface and scope, 30 days": (
        CODES,
        {"surface__exact": "store", "scope__exact": "STORE_LOGIN", "created_at__gte": "{month_ago}"},
    ),
    "codes: SMS": (CODES, {"channel": "SMS"}),
    "codes: email": (CODES, {"channel": "EMAIL"}),
    "codes: delivered": (CODES, {"delivery_status__exact": "sent"}),
    "codes: pending delivery": (CODES, {"delivery_status__exact": "pending"}),
    "codes: failed delivery": (CODES, {"delivery_status__exact": "failed"}),
    "codes: issued today": (CODES, {"created_at__gte": "{today}"}),
    "codes: issued this year": (CODES, {"created_at__gte": "{year_start}"}),
    "codes: small organization": (CODES, {"organization__id__exact": "{small}"}),
    "codes: rare scope, used, by SMS": (CODES, {"scope__exact": "STORE_LOGIN", "status": "used", "channel": "SMS"}),
    "codes: oldest first": (CODES, {"o": "1"}),
    "cards": (CARDS, {}),
    "cards: card id": (CARDS, {"q": "card-4242"}),
    "cards: holder's email": (CARDS, {"q": scale.email_of(4242)}),
    "cards: disabled": (CARDS, {"state__exact": "disabled"}),
    "cards: used up": (CARDS, {"challenges": "used-up"}),
    "cards: low": (CARDS, {"challenges": "low"}),
}


# Session, user, the organizations of the filter (and the policies of the card page's), the bounded count
# (which fetches the ids) and the page read by those ids.
STATEMENTS = {PEOPLE: 5, ACCESSES: 6, AUDIT: 5, CODES: 5, CARDS: 6}
# What a search looks up first in a small table or through a unique index: the people an identifier
# names; for the audit trail the API keys and staff users; for cards the organizations too.
SEARCH_LOOKUPS = {PEOPLE: 1, ACCESSES: 1, AUDIT: 2, CODES: 1, CARDS: 2}
# Filters that look up a few ids first: an organization's published applications, the card policies.
FILTER_LOOKUPS = {"organization": 1, "challenges": 1}


def pinned_statements(url: str, params: dict) -> int:
    # Each word of a search is looked up on its own, except on the audit trail's (matched whole).
    words = 1 if url == AUDIT else len(params.get("q", "").split())
    search = SEARCH_LOOKUPS[url] * words
    return STATEMENTS[url] + search + sum(FILTER_LOOKUPS.get(name, 0) for name in params)


def resolve(params: dict, seeded) -> dict:
    from django.utils import timezone

    midnight = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    values = {
        "small": seeded.small_organization,
        "big": seeded.big_organization,
        "api_key_id": seeded.api_key_id,
        # As the date filter's own links write them: midnight, with the time zone.
        "week_ago": str(midnight - timezone.timedelta(days=7)),
        "today": str(midnight),
        "year_start": str(midnight.replace(month=1, day=1)),
        "month_ago": str(midnight - timezone.timedelta(days=29)),
        "month_ago_day": (midnight - timezone.timedelta(days=29)).date().isoformat(),
    }
    return {key: value.format(**values) for key, value in params.items()}


@pytest.mark.parametrize("page", PAGES)
def test_every_page_is_served_by_indexes(superuser_client, seeded, page):
    url, params = PAGES[page]
    statements, queries = scale.changelist_queries(superuser_client, url, resolve(params, seeded))
    assert statements <= pinned_statements(url, params)
    assert queries
    problems = {sql: found for sql in queries if (found := scale.plan_problems(sql))}
    assert not problems, problems


def found(client, url: str, term: str) -> set[int]:
    response = client.get(url, {"q": term})
    assert response.status_code == 200
    return {obj.pk for obj in response.context["cl"].result_list}


def test_people_are_found_by_what_names_them(superuser_client, seeded):
    assert found(superuser_client, PEOPLE, f"PERSON{PERSON}@EXAMPLE.com") == {PERSON}
    assert found(superuser_client, PEOPLE, f"person{CAPITALIZED}@example.com") == {CAPITALIZED}
    assert found(superuser_client, PEOPLE, scale.mobile_of(PERSON)) == {PERSON}
    assert found(superuser_client, PEOPLE, f"USER{PERSON}") == {PERSON}
    assert found(superuser_client, PEOPLE, f"Ext-{PERSON}") == {PERSON}
    assert found(superuser_client, PEOPLE, f"x{PERSON:09d}") == {PERSON}
    assert found(superuser_client, PEOPLE, str(PERSON)) == {PERSON}
    assert found(superuser_client, PEOPLE, person_uuid(PERSON)) == {PERSON}


def test_people_are_found_by_part_of_an_email_mobile_or_name(superuser_client, seeded):
    assert found(superuser_client, PEOPLE, "PERSON12345") == {12345, *range(123450, 123460)}
    assert found(superuser_client, PEOPLE, "+491510012345") == set(range(123450, 123460))
    named = found(superuser_client, PEOPLE, '"anna" müll')
    assert named and all(
        (person.first_name, person.last_name[:4]) == ("Anna", "Müll")
        for person in superuser_client.get(PEOPLE, {"q": "anna müll"}).context["cl"].result_list
    )
    assert found(superuser_client, PEOPLE, "ab") == set()  # too short for a part, and names nobody


def test_app_accesses_are_found_by_their_person_or_their_id(superuser_client, seeded):
    assert found(superuser_client, ACCESSES, scale.email_of(PERSON).upper()) == {PERSON}
    assert found(superuser_client, ACCESSES, "a" + f"{PERSON:x}".rjust(23, "0")) == {PERSON}
    assert found(superuser_client, ACCESSES, "person12345") == set()  # exact identifiers only here


def test_audit_events_are_found_by_object_request_action_and_actor(superuser_client, seeded):
    from otpusers.models import AuditEvent

    def count(term: str) -> int:
        return superuser_client.get(AUDIT, {"q": term}).context["cl"].result_count

    by_object = AuditEvent.objects.filter(pk__in=found(superuser_client, AUDIT, f"{4242:024x}"))
    assert [event.object_id for event in by_object] == [f"{4242:024x}"]
    assert count(hashlib.md5(b"request4242").hexdigest()) == 1
    assert count("card.login_rare") == scale.AUDIT_EVENTS // 1000
    assert count(seeded.api_key_id) == scale.AUDIT_EVENTS // 5000
    assert count("checkout SERVICE") == scale.AUDIT_EVENTS // 5000
    assert count("auditor") == scale.AUDIT_EVENTS // 1000


def test_codes_are_found_by_recipient_id_and_number(superuser_client, seeded):
    from credentials.models import IssuedCode

    codes_of_person = set(IssuedCode.objects.filter(otp_user_id=PERSON).values_list("pk", flat=True))
    assert len(codes_of_person) == scale.CODES // scale.PEOPLE
    assert found(superuser_client, CODES, scale.email_of(PERSON).upper()) == codes_of_person
    assert found(superuser_client, CODES, scale.mobile_of(PERSON)) == codes_of_person
    assert found(superuser_client, CODES, scale.code_public_id(4242)) == {4242}
    codes_of_4242 = set(IssuedCode.objects.filter(otp_user_id=4242).values_list("pk", flat=True))
    assert found(superuser_client, CODES, "4242") == {4242} | codes_of_4242


def test_cards_are_found_by_card_id_and_holder(superuser_client, seeded):
    assert found(superuser_client, CARDS, "card-4242") == {4242}
    assert found(superuser_client, CARDS, scale.email_of(4242).upper()) == {4242}
    assert found(superuser_client, CARDS, "c" + f"{4242:x}".rjust(23, "0")) == {4242}


def test_the_person_autocomplete_of_other_forms_uses_the_same_search(superuser_client, seeded):
    """The access and card forms pick their person by autocomplete (never a select of every person)."""
    response = superuser_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "otpusers", "model_name": "appaccess", "field_name": "otp_user", "term": f"USER{PERSON}"},
    )
    assert response.status_code == 200
    assert [result["id"] for result in response.json()["results"]] == [str(PERSON)]
    form = superuser_client.get(reverse("admin:otpusers_appaccess_add")).content.decode()
    assert "admin-autocomplete" in form and form.count("<option") < 100
