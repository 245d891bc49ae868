"""SQL statements per request on the nevisIDM surface (transaction control not counted), pinned with the
API-key cache empty (cold) and filled (warm). Budgets from issue 9: single reads ≤ 2, lists ≤ 3, login ≤ 5,
challenge ≤ 7, PATCH ≤ 4. The list and the GET show the card's cells, and every read-back is audited, so a
cold GET is one INSERT over the read budget."""

import pytest
from rest_framework.test import APIClient

from credentials import services
from credentials.choices import CardState
from tests.credentials.card_helpers import ACTOR, answer_for, card_holder, wrong_answer_for
from tests.factories import make_api_key
from tests.statements import assert_budgets, recently_used

pytestmark = pytest.mark.django_db

ALL = (
    "AccessControl.CredentialView",
    "AccessControl.CredentialCreate",
    "AccessControl.CredentialModify",
    "AccessControl.CredentialDelete",
    "AccessControl.CredentialChangeState",
    "AccessControl.PolicyConfigurationView",
)


@pytest.fixture
def person():
    return card_holder()


@pytest.fixture
def client(person) -> APIClient:
    api_key, token = make_api_key(person.organization, *ALL)
    recently_used(api_key)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def core(person) -> str:
    return f"/nevisidm/api/core/v1/{person.organization.ext_id}/users/{person.ext_id}/otp-credentials"


def auth(person, what) -> str:
    return f"/nevisidm/api/auth/v1/{person.organization.ext_id}/users/{person.ext_id}/otp/{what}"


def a_card(person, state=CardState.ACTIVE):
    for card in person.otp_cards.all():
        services.card_delete(card=card, actor=ACTOR)
    return services.card_create(person=person, state=state, actor=ACTOR)


def test_list(person, client, cold_api_key_cache):
    services.card_create(person=person, actor=ACTOR)
    services.card_create(person=person, actor=ACTOR)
    assert_budgets(
        what="nevisIDM list (two cards)",
        prepare=lambda: None,
        request=lambda _: client.get(core(person)),
        cold=3,
        warm=2,
        clear_cache=cold_api_key_cache,
    )


def test_an_empty_list(person, client, cold_api_key_cache):
    assert_budgets(
        what="nevisIDM list (no card)",
        prepare=lambda: None,
        request=lambda _: client.get(core(person)),
        cold=3,
        warm=2,
        clear_cache=cold_api_key_cache,
    )


def test_retrieve(person, client, cold_api_key_cache):
    card = a_card(person)
    assert_budgets(
        what="nevisIDM get",
        prepare=lambda: None,
        request=lambda _: client.get(f"{core(person)}/{card.ext_id}"),
        cold=2,
        warm=1,
        clear_cache=cold_api_key_cache,
    )


def test_create(person, client, cold_api_key_cache):
    services.card_policy_default(organization=person.organization)  # made on the organization's first card

    def prepare():
        for card in person.otp_cards.all():
            services.card_delete(card=card, actor=ACTOR)

    assert_budgets(
        what="nevisIDM create",
        prepare=prepare,
        request=lambda _: client.post(core(person), {"stateName": "active"}, format="json"),
        cold=7,
        warm=6,
        clear_cache=cold_api_key_cache,
        expect=(201,),
    )


def test_patch(person, client, cold_api_key_cache):
    assert_budgets(
        what="nevisIDM PATCH",
        prepare=lambda: a_card(person),
        request=lambda card: client.patch(
            f"{core(person)}/{card.ext_id}",
            {"version": card.version, "stateName": "disabled", "modificationComment": "lost"},
            format="json",
        ),
        cold=3,
        warm=2,
        clear_cache=cold_api_key_cache,
    )


def test_replace(person, client, cold_api_key_cache):
    assert_budgets(
        what="nevisIDM replace",
        prepare=lambda: a_card(person),
        request=lambda card: client.post(
            f"{core(person)}/{card.ext_id}/replace",
            {"version": card.version, "modificationComment": "lost"},
            format="json",
        ),
        cold=3,
        warm=2,
        clear_cache=cold_api_key_cache,
    )


def test_delete(person, client, cold_api_key_cache):
    assert_budgets(
        what="nevisIDM delete",
        prepare=lambda: a_card(person),
        request=lambda card: client.delete(f"{core(person)}/{card.ext_id}"),
        cold=3,
        warm=2,
        clear_cache=cold_api_key_cache,
        expect=(204,),
    )


def test_challenge(person, client, cold_api_key_cache):
    a_card(person)
    assert_budgets(
        what="nevisIDM challenge",
        prepare=lambda: None,
        request=lambda _: client.post(auth(person, "challenge")),
        cold=4,
        warm=3,
        clear_cache=cold_api_key_cache,
    )


@pytest.mark.parametrize("right", [True, False])
def test_login(person, client, cold_api_key_cache, right):
    def prepare():
        card = a_card(person)
        card, challenge = services.card_challenge(person=person, actor=ACTOR)
        return challenge, (answer_for if right else wrong_answer_for)(card, challenge)

    assert_budgets(
        what="nevisIDM login",
        prepare=prepare,
        request=lambda answer: client.post(
            auth(person, "login"),
            {"challenge": answer[0], "password": answer[1], "updateLoginInfoOnSuccess": True},
            format="json",
        ),
        cold=5,
        warm=4,
        clear_cache=cold_api_key_cache,
    )
