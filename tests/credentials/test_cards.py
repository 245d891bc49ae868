import pytest
from django.db import connection

from credentials import services
from credentials.choices import CardState
from credentials.models import OtpCard
from otpusers.models import AuditEvent
from tests.credentials.card_helpers import ACTOR, answer_for, card_holder, wrong_answer_for

pytestmark = pytest.mark.django_db


def login(person, challenge, password, **kwargs):
    return services.card_login(person=person, challenge=challenge, password=password, actor=ACTOR, **kwargs)


class TestCreate:
    def test_a_new_card_follows_the_default_policy(self):
        person = card_holder()
        card = services.card_create(person=person, actor=ACTOR)
        assert (card.rows, card.cols, card.cells_remaining, card.state) == (14, 12, 168, CardState.INITIAL)
        assert card.ext_id == card.public_id and card.policy.ext_id == "default"
        cells = services.card_cells(card)
        assert len(cells) == 168 and all(len(cell) == 4 and cell.isdigit() for cell in cells)
        assert (card.valid_to - card.valid_from).days == 3650
        assert AuditEvent.objects.filter(action="card.create", object_id=card.public_id).exists()

    def test_at_most_two_cards_that_are_not_archived(self):
        person = card_holder()
        first = services.card_create(person=person, actor=ACTOR)
        services.card_create(person=person, actor=ACTOR)
        with pytest.raises(services.CardLimitReached):
            services.card_create(person=person, actor=ACTOR)
        services.card_set_state(card=first, state=CardState.ARCHIVED, reason="lost", actor=ACTOR)
        services.card_create(person=person, actor=ACTOR)
        assert OtpCard.objects.filter(otp_user=person).count() == 3

    def test_the_grid_is_not_in_the_database_in_plaintext(self):
        card = services.card_create(person=card_holder(), actor=ACTOR)
        grid = "".join(services.card_cells(card))
        with connection.cursor() as cursor:
            cursor.execute("SELECT row_to_json(c)::text FROM credentials_otpcard c")
            stored = cursor.fetchone()[0]
        assert grid not in stored and grid[:40] not in stored
        assert card.grid_sealed.startswith("test1:")


class TestStateAndVersion:
    def test_a_stale_version_changes_nothing(self):
        card = services.card_create(person=card_holder(), actor=ACTOR)
        services.card_set_state(card=card, comment="first", expected_version=0, actor=ACTOR)
        with pytest.raises(services.StaleVersion):
            services.card_set_state(card=card, state=CardState.DISABLED, expected_version=0, actor=ACTOR)
        with pytest.raises(services.StaleVersion):
            services.card_replace(card=card, comment="x", expected_version=0, actor=ACTOR)
        stored = OtpCard.objects.get(pk=card.pk)
        assert (stored.state, stored.version, stored.modification_comment) == (CardState.INITIAL, 1, "first")

    def test_replace_makes_a_new_grid_and_keeps_the_rest(self):
        card = services.card_create(person=card_holder(), actor=ACTOR)
        old = services.card_cells(card)
        services.card_challenge(person=card.otp_user, actor=ACTOR)
        replaced = services.card_replace(card=card, comment="lost it", actor=ACTOR)
        assert services.card_cells(replaced) != old
        assert (replaced.ext_id, replaced.state, replaced.cells_remaining) == (card.ext_id, card.state, 168)
        assert replaced.latest_challenge == "" and replaced.version == card.version + 2

    def test_archived_is_final(self):
        card = services.card_create(person=card_holder(), actor=ACTOR)
        services.card_set_state(card=card, state=CardState.ARCHIVED, reason="gone", actor=ACTOR)
        from credentials.card import InvalidTransition

        with pytest.raises(InvalidTransition):
            services.card_set_state(card=card, state=CardState.ACTIVE, actor=ACTOR)


class TestChallengeAndLogin:
    def test_a_right_answer_logs_in_once(self):
        person = card_holder()
        services.card_create(person=person, actor=ACTOR)
        card, challenge = services.card_challenge(person=person, actor=ACTOR)
        assert len(challenge) == 3 and card.cells_remaining == 167
        result = login(person, challenge, answer_for(card, challenge), update_login_info=True)
        assert result.outcome == services.LoginOutcome.SUCCESS
        assert result.card.state == CardState.ACTIVE and result.card.successful_login_count == 1
        person.refresh_from_db()
        assert person.last_login_at is not None
        replay = login(person, challenge, answer_for(card, challenge))
        assert replay.outcome == services.LoginOutcome.NO_CHALLENGE and replay.card.failed_login_count == 0

    def test_failures_lock_temporarily_then_for_good(self, clock):
        person = card_holder()
        services.card_create(person=person, actor=ACTOR)
        card, challenge = services.card_challenge(person=person, actor=ACTOR)
        wrong = wrong_answer_for(card, challenge)
        assert login(person, challenge, wrong).outcome == services.LoginOutcome.WRONG_ANSWER
        second = login(person, challenge, wrong)
        assert second.card.state == CardState.TMP_LOCKED and second.card.failed_login_count == 2
        with pytest.raises(services.CardLocked):
            login(person, challenge, answer_for(card, challenge))
        clock.advance(seconds=60)
        third = login(person, challenge, wrong)  # the lock ran out; the challenge is still waiting
        assert third.card.state == CardState.FAIL_LOCKED and third.card.failed_login_count == 3
        clock.advance(days=1)
        with pytest.raises(services.CardLocked):
            services.card_challenge(person=person, actor=ACTOR)
        logins = list(AuditEvent.objects.filter(action="card.login").order_by("id").values_list("reason", flat=True))
        assert logins == ["wrong_answer", "wrong_answer", "locked", "wrong_answer"]
        assert AuditEvent.objects.get(action="card.challenge", outcome="failure").reason == "locked"

    def test_unlock_resets_the_failures(self):
        person = card_holder(max_cred_failure_count=1)
        card = services.card_create(person=person, actor=ACTOR)
        _, challenge = services.card_challenge(person=person, actor=ACTOR)
        login(person, challenge, wrong_answer_for(card, challenge))
        unlocked = services.card_set_state(card=card, state=CardState.ACTIVE, reason="called the helpdesk", actor=ACTOR)
        assert unlocked.state == CardState.ACTIVE and unlocked.failed_login_count == 0

    @pytest.mark.parametrize("state", [CardState.DISABLED, CardState.RESET_CODE, CardState.ADMIN_CHANGED])
    def test_cards_not_active_cannot_be_challenged(self, state):
        person = card_holder()
        card = services.card_create(person=person, actor=ACTOR)
        services.card_set_state(card=card, state=state, actor=ACTOR)
        with pytest.raises(services.CardNotUsable):
            services.card_challenge(person=person, actor=ACTOR)

    def test_a_card_out_of_validity_cannot_log_in(self, clock):
        person = card_holder(credential_lifetime_days=1)
        services.card_create(person=person, actor=ACTOR)
        clock.advance(days=1)
        with pytest.raises(services.CardNotUsable):
            services.card_challenge(person=person, actor=ACTOR)

    def test_no_card(self):
        with pytest.raises(services.NoCard):
            services.card_challenge(person=card_holder(), actor=ACTOR)

    def test_a_used_up_card_has_no_challenge_and_is_flagged_low(self):
        person = card_holder(rows=2, cols=3, low_on_challenges_threshold=2)
        services.card_create(person=person, actor=ACTOR)
        challenges = [services.card_challenge(person=person, actor=ACTOR)[1] for _ in range(7)]
        assert sorted(challenges[:6]) == ["1", "2", "3", "4", "5", "6"] and challenges[6] is None
        assert AuditEvent.objects.filter(action="card.low_on_challenges").count() == 1
        assert OtpCard.objects.get(otp_user=person).low_on_challenges

    def test_challenges_use_the_most_recent_card(self):
        person = card_holder()
        services.card_create(person=person, actor=ACTOR)
        newer = services.card_create(person=person, actor=ACTOR)
        card, _ = services.card_challenge(person=person, actor=ACTOR)
        assert card.pk == newer.pk

    def test_coordinate_cards(self):
        person = card_holder(coordinate_card_format=True)
        services.card_create(person=person, actor=ACTOR)
        card, challenge = services.card_challenge(person=person, actor=ACTOR)
        assert challenge[0] in "ABCDEFGHIJKLMN" and 1 <= int(challenge[1:]) <= 12
        assert login(person, challenge, answer_for(card, challenge)).outcome == services.LoginOutcome.SUCCESS
