from collections import Counter

import pytest

from credentials import services
from credentials.choices import CardState
from credentials.models import OtpCard
from tests.concurrency import run_in_parallel
from tests.credentials.card_helpers import ACTOR, answer_for, card_holder, wrong_answer_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]


def outcome_of(result) -> str:
    return result.outcome.value if isinstance(result, services.LoginResult) else type(result).__name__


def test_thirty_parallel_wrong_answers_count_and_lock_as_the_policy_says():
    person = card_holder()  # nevisIDM defaults: temporary lock at 2 failures, for good at 3
    services.card_create(person=person, actor=ACTOR)
    card, challenge = services.card_challenge(person=person, actor=ACTOR)
    wrong = wrong_answer_for(card, challenge)
    results = run_in_parallel(
        lambda: services.card_login(person=person, challenge=challenge, password=wrong, actor=ACTOR), count=30
    )
    assert Counter(map(outcome_of, results)) == {"wrong_answer": 2, "CardLocked": 28}
    stored = OtpCard.objects.get(pk=card.pk)
    assert (stored.state, stored.failed_login_count) == (CardState.TMP_LOCKED, 2)


def test_thirty_parallel_right_answers_to_one_challenge_succeed_once():
    person = card_holder()
    services.card_create(person=person, actor=ACTOR)
    card, challenge = services.card_challenge(person=person, actor=ACTOR)
    right = answer_for(card, challenge)
    results = run_in_parallel(
        lambda: services.card_login(person=person, challenge=challenge, password=right, actor=ACTOR), count=30
    )
    assert Counter(map(outcome_of, results)) == {"success": 1, "no_challenge": 29}
    stored = OtpCard.objects.get(pk=card.pk)
    assert (stored.successful_login_count, stored.failed_login_count) == (1, 0)


def test_parallel_creates_never_make_a_third_card():
    person = card_holder()
    results = run_in_parallel(lambda: services.card_create(person=person, actor=ACTOR), count=10)
    assert Counter(type(result).__name__ for result in results) == {"OtpCard": 2, "CardLimitReached": 8}


def test_parallel_patches_never_lose_a_write():
    """Two patches read at one version cannot both be written: every written one moved the version by one."""
    person = card_holder()
    card = services.card_create(person=person, actor=ACTOR)

    def patch():
        read = OtpCard.objects.select_related("policy", "organization").get(pk=card.pk)
        return services.card_set_state(card=read, comment="mine", expected_version=read.version, actor=ACTOR)

    results = run_in_parallel(patch, count=10)
    written = [result for result in results if isinstance(result, OtpCard)]
    assert len(written) + sum(isinstance(result, services.StaleVersion) for result in results) == 10
    assert len(written) >= 1
    assert OtpCard.objects.get(pk=card.pk).version == len(written)
