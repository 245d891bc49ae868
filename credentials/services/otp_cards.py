"""Making, replacing and changing OTP cards, and challenging and logging in with them.

Logins and challenges are decided under the card's row lock, so parallel answers are counted one by one
and one challenge can be answered right only once; card creation locks the person's row, so the two-card
limit holds under parallel creates.
"""

import enum
import hmac
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from credentials import card as card_maths
from credentials import crypto, observability
from credentials.choices import CardState, TmpLockingMode
from credentials.models import CardPolicy, OtpCard
from otpusers.audit import AUDIT_INSERT, Actor, audit_event, audit_record
from otpusers.choices import Outcome
from otpusers.models import Organization, OtpUser
from otpusers.prepared import PreparedLookup

MAX_CARDS_PER_PERSON = 2


class CardLimitReached(Exception):
    """The person already has the most cards allowed (archived ones do not count)."""


class DuplicateExtId(ValidationError):
    """The organization already has a card with this external id."""

    def __init__(self):
        super().__init__({NON_FIELD_ERRORS: [_constraint_message("unique_ext_id")]})


class StaleVersion(Exception):
    """The caller changed a card it read at an older version."""


class NoCard(Exception):
    """The person has no usable card (none, or only archived ones)."""


class CardLocked(Exception):
    """The card is temporarily or permanently locked after failures."""


class CardNotUsable(Exception):
    """The card is not in a state that logs in (disabled, archived, reset or changed), or is out of validity."""


class LoginOutcome(enum.StrEnum):
    SUCCESS = "success"
    WRONG_ANSWER = "wrong_answer"
    NO_CHALLENGE = "no_challenge"  # no challenge is waiting, or not the one given: not counted as a failure


@dataclass(frozen=True)
class LoginResult:
    outcome: LoginOutcome
    card: OtpCard


def _constraint_message(rule: str) -> str:
    return next(c for c in OtpCard._meta.constraints if c.name.endswith(rule)).violation_error_message


def card_policy_default(*, organization: Organization) -> CardPolicy:
    """The organization's default policy; nevisIDM's defaults are made on first use."""
    policy, _ = CardPolicy.objects.get_or_create(
        organization=organization,
        is_default=True,
        defaults={"ext_id": "default", "name": "Default OTP card policy"},
    )
    return policy


def card_aad(card: OtpCard) -> str:
    return f"otpcard:{card.public_id}"


def card_cells(card: OtpCard) -> list[str]:
    """The card's cells, decrypted. Only for checking answers and for the audited print page."""
    joined = crypto.unseal(card.grid_sealed, associated_data=card_aad(card))
    width = len(joined) // (card.rows * card.cols)
    return [joined[index : index + width] for index in range(0, len(joined), width)]


def card_otp_string(card: OtpCard) -> str:
    """nevisIDM's `otp` field: rows|cols|counters|card(|latestChallenge), see credentials/card.py."""
    return card_maths.encode(
        card_maths.CardData(
            geometry=card_maths.Geometry(card.rows, card.cols, card.coordinate_card_format),
            counters=[card_maths.COUNTER_DIGITS.index(digit) for digit in card.counters],
            cells=card_cells(card),
            latest_challenge=card.latest_challenge or None,
        )
    )


def _fill_grid(card: OtpCard, policy: CardPolicy) -> None:
    geometry = card_maths.Geometry(policy.rows, policy.cols, policy.coordinate_card_format)
    card.rows, card.cols, card.coordinate_card_format = policy.rows, policy.cols, policy.coordinate_card_format
    cells = card_maths.generate_cells(geometry, policy.cell_length)
    card.grid_sealed = crypto.seal("".join(cells), associated_data=card_aad(card))
    card.counters = "0" * geometry.cells
    card.cells_remaining = geometry.cells
    card.latest_challenge = ""


def _bump(card: OtpCard, now) -> None:
    card.version += 1
    card.updated_at = now


def _card_audit(card: OtpCard, actor: Actor, action: str, outcome=Outcome.SUCCESS, reason: str = "", **detail):
    audit_record(
        actor=actor,
        action=action,
        organization=card.organization,
        target=card,
        outcome=outcome,
        reason=reason,
        detail={"ext_id": card.ext_id, "state": card.state, "version": card.version, **detail},
    )


@transaction.atomic
def card_create(
    *,
    person: OtpUser,
    actor: Actor,
    ext_id: str = "",
    policy: CardPolicy | None = None,
    state: str = CardState.INITIAL,
    comment: str = "",
) -> OtpCard:
    """Makes a new card for the person from the policy (the organization's default when none is named).

    The person's row is locked while the cards are counted, so two parallel creates cannot both make a
    third card."""
    person = OtpUser.objects.select_for_update().select_related("organization").get(pk=person.pk)
    if person.otp_cards.exclude(state=CardState.ARCHIVED).count() >= MAX_CARDS_PER_PERSON:
        raise CardLimitReached()
    if state not in (CardState.INITIAL, CardState.ACTIVE, CardState.DISABLED):
        raise ValidationError({"state": ["A new card starts initial, active or disabled."]})
    policy = policy or card_policy_default(organization=person.organization)
    now = timezone.now()
    card = OtpCard(
        organization=person.organization,
        otp_user=person,
        policy=policy,
        state=state,
        state_change_reason="created",
        modification_comment=comment,
        valid_from=now,
        valid_to=now + timedelta(days=policy.credential_lifetime_days),
        created_at=now,
        updated_at=now,
    )
    card.ext_id = ext_id or card.public_id
    _fill_grid(card, policy)
    try:
        with transaction.atomic():
            card.save(force_insert=True)
    except IntegrityError as error:
        if "unique_ext_id" in str(getattr(getattr(error.__cause__, "diag", None), "constraint_name", "") or error):
            raise DuplicateExtId() from None
        raise
    _card_audit(card, actor, "card.create")
    return card


def _card_to_change(card: OtpCard, expected_version: int | None) -> OtpCard:
    """The card to change. Without `expected_version` (the admin), the card read again under its row lock.
    With it (the API's PATCH and replace), the caller's card as it read it, which must be at that version;
    _save_changed then writes it only if the row is still at that version."""
    if expected_version is None:
        return OtpCard.objects.select_for_update().select_related("policy", "organization").get(pk=card.pk)
    if card.version != expected_version:
        raise StaleVersion()
    return card


def _save_changed(card: OtpCard, read_version: int) -> None:
    """Writes the changed card in one UPDATE conditional on the version it was read at, so that of two
    parallel changes made from the same version exactly one is written (the other gets StaleVersion)."""
    fields = {
        field.attname: getattr(card, field.attname) for field in OtpCard._meta.concrete_fields if not field.primary_key
    }
    if not OtpCard.objects.filter(pk=card.pk, version=read_version).update(**fields):
        raise StaleVersion()


@transaction.atomic
def card_replace(*, card: OtpCard, comment: str, actor: Actor, expected_version: int | None = None) -> OtpCard:
    """A new grid for the card; its external id, policy and state stay. The old cells stop working."""
    card = _card_to_change(card, expected_version)
    read_version = card.version
    _fill_grid(card, card.policy)
    card.modification_comment = comment
    _bump(card, timezone.now())
    _save_changed(card, read_version)
    _card_audit(card, actor, "card.replace", reason=comment[:200])
    return card


_UNSET = object()


@transaction.atomic
def card_set_state(
    *,
    card: OtpCard,
    actor: Actor,
    state: str | None = None,
    reason: str = "",
    detail: str = "",
    comment: str | None = None,
    valid_from=_UNSET,
    valid_to=_UNSET,
    expected_version: int | None = None,
) -> OtpCard:
    """An administrator's change: state (along the transition table), validity and comment. With
    `expected_version` (the API's PATCH), a card changed since it was read is left alone (StaleVersion)."""
    card = _card_to_change(card, expected_version)
    read_version = card.version
    now = timezone.now()
    previous = card.effective_state(now)
    if state is not None and state != previous:
        card.state = card_maths.next_state(previous, card_maths.admin_event(state))
        card.state_change_reason = reason or "admin"
        card.state_change_detail = detail
        card.tmp_locked_until = None
        if state == CardState.ACTIVE:
            card.failed_login_count = 0
    if comment is not None:
        card.modification_comment = comment
    if valid_from is not _UNSET:
        card.valid_from = valid_from
    if valid_to is not _UNSET:
        card.valid_to = valid_to
    if expected_version is None:
        card.full_clean()
    elif card.valid_from is not None and card.valid_to is not None and card.valid_to <= card.valid_from:
        # The API's serializer checked every other field; this is the one rule that spans two of them.
        raise ValidationError({NON_FIELD_ERRORS: [_constraint_message("validity_order")]})
    _bump(card, now)
    _save_changed(card, read_version)
    _card_audit(card, actor, "card.update", reason=reason[:200], previous_state=previous, detail_text=detail)
    return card


def card_audit_read(*, card: OtpCard, actor: Actor) -> None:
    """Records that the card's cells were shown (API read, print page): every grid read-back is audited."""
    _card_audit(card, actor, "card.read_back")


def cards_audit_read(*, cards: list[OtpCard], actor: Actor) -> None:
    """card_audit_read for each card, in one INSERT (the API's list)."""
    AUDIT_INSERT.save_many(
        [
            audit_event(
                actor=actor,
                action="card.read_back",
                organization=card.organization,
                target=card,
                detail={"ext_id": card.ext_id, "state": card.state, "version": card.version},
            )
            for card in cards
        ]
    )


@transaction.atomic
def card_delete(*, card: OtpCard, actor: Actor) -> None:
    _card_audit(card, actor, "card.delete")
    card.delete()


@dataclass(frozen=True)
class PersonByExtIds:
    """A person as a nevisIDM path names them, within one organization (an API key's): their client's
    external id and their own."""

    client_ext_id: str
    user_ext_id: str
    organization_id: int


def _cards_under_check(person):
    """The person's cards that are not archived, most recent first, locked, with what the check reads; the
    latest failure on any of the person's cards comes along (nevisIDM's userLastLoginFailure)."""
    latest_failure = (
        OtpCard.objects.filter(otp_user=OuterRef("otp_user"), last_failed_login_at__isnull=False)
        .order_by("-last_failed_login_at")
        .values("last_failed_login_at")[:1]
    )
    return (
        OtpCard.objects.select_for_update(of=("self",))
        .select_related("policy", "organization", "otp_user")
        .annotate(person_last_failed_login_at=Subquery(latest_failure))
        .filter(otp_user=person)
        .exclude(state=CardState.ARCHIVED)
        .order_by("-created_at", "-id")
    )


def _card_under_check_by_ext_ids(shape, *, client: str, user: str, user_lowered: str, organization_id: int):
    people = OtpUser.objects.filter(organization__ext_id=client, organization_id=organization_id).with_identifier(
        "ext_id", user, exact_case=True, lowered=user_lowered
    )
    return _cards_under_check(people.as_one_id())


# The card a nevisIDM challenge or login by an API key checks, compiled once.
CARD_UNDER_CHECK_BY_EXT_IDS = PreparedLookup(
    OtpCard,
    _card_under_check_by_ext_ids,
    ordered=True,
    client=str,
    user=str,
    user_lowered=str,
    organization_id=int,
)


def _current_card(person: "OtpUser | models.QuerySet | PersonByExtIds", now) -> tuple[OtpCard, bool]:
    """The person's most recent card that is not archived, locked for the check, with its person, and
    whether a run-out temporary lock was lifted on it (written back as active by the caller's save).

    `person` may name the person rather than be them (a queryset, or their external ids), so that the
    person and the card are found in one query."""
    if isinstance(person, PersonByExtIds):
        card = CARD_UNDER_CHECK_BY_EXT_IDS.one_or_none(
            client=person.client_ext_id,
            user=person.user_ext_id,
            user_lowered=person.user_ext_id.lower(),
            organization_id=person.organization_id,
        )
    else:
        named = person.as_one_id() if isinstance(person, models.QuerySet) else person
        card = next(iter(_cards_under_check(named)[:1]), None)
    if card is None:
        raise NoCard()
    lifted = card.state == CardState.TMP_LOCKED and card.effective_state(now) == CardState.ACTIVE
    if lifted:
        card.state = card_maths.next_state(card.state, card_maths.Event.TMP_LOCK_EXPIRED)
        card.state_change_reason = "tmp-lock-expired"
        card.tmp_locked_until = None
        _bump(card, now)
    return card, lifted


def _refusal(card: OtpCard, actor: Actor, action: str, now) -> Exception | None:
    """Why the card cannot be challenged or logged in with now (audited), or None. The caller raises it
    after its transaction, so that the audit event and a lazily lifted lock are kept."""
    if card.state in card_maths.LOCKED_STATES:
        _card_audit(card, actor, action, Outcome.FAILURE, reason="locked")
        return CardLocked()
    if card.state not in card_maths.LOGIN_STATES or not card.is_within_validity(now):
        _card_audit(card, actor, action, Outcome.FAILURE, reason="not_usable")
        return CardNotUsable()
    return None


def card_challenge(*, person: "OtpUser | models.QuerySet | PersonByExtIds", actor: Actor) -> tuple[OtpCard, str | None]:
    """Names an unused cell of the person's current card for them to answer, and marks it used so that it
    is never challenged again. The challenge is None when every cell has been used."""
    with transaction.atomic():
        now = timezone.now()
        card, changed = _current_card(person, now)
        challenge = None
        refusal = _refusal(card, actor, "card.challenge", now)
        if refusal is None:
            counters = [card_maths.COUNTER_DIGITS.index(digit) for digit in card.counters]
            index = card_maths.pick_unused_cell(counters)
            if index is not None:
                was_low = card.low_on_challenges
                counters[index] += 1
                card.counters = "".join(card_maths.COUNTER_DIGITS[count] for count in counters)
                card.cells_remaining -= 1
                geometry = card_maths.Geometry(card.rows, card.cols, card.coordinate_card_format)
                challenge = card.latest_challenge = geometry.challenge_name(index)
                _bump(card, now)
                changed = True
                _card_audit(card, actor, "card.challenge", challenge=challenge)
                if card.low_on_challenges and not was_low:
                    _card_audit(card, actor, "card.low_on_challenges", cells_remaining=card.cells_remaining)
        if changed:
            card.save()
    if refusal is not None:
        raise refusal
    return card, challenge


def card_login(
    *,
    person: "OtpUser | models.QuerySet | PersonByExtIds",
    challenge: str,
    password: str,
    actor: Actor,
    update_login_info: bool = False,
) -> LoginResult:
    """Checks the answer to the card's waiting challenge, in one transaction under the card's row lock.

    A right answer uses the challenge and clears the failure count. A wrong one counts a failure and locks
    the card as the policy says (temporarily at tmpLockingThreshold, for good at maxCredFailureCount); the
    challenge stays, so a person who mistyped can answer it again until the card locks. A challenge that is
    not the one waiting is refused without counting, so a replayed right answer never succeeds twice."""
    with transaction.atomic():
        now = timezone.now()
        card, changed = _current_card(person, now)
        outcome = None
        refusal = _refusal(card, actor, "card.login", now)
        if refusal is None:
            outcome = _judge_card(card, challenge, password, now)
            if outcome == LoginOutcome.SUCCESS and update_login_info:
                OtpUser.objects.filter(pk=card.otp_user_id).update(last_login_at=now)
                card.otp_user.last_login_at = now
            if outcome != LoginOutcome.NO_CHALLENGE:
                _bump(card, now)
                changed = True
            _card_audit(
                card,
                actor,
                "card.login",
                Outcome.SUCCESS if outcome == LoginOutcome.SUCCESS else Outcome.FAILURE,
                reason=outcome.value,
                failed_login_count=card.failed_login_count,
            )
        if changed:
            card.save()
    if refusal is not None:
        observability.CARD_LOGINS.labels(outcome="refused").inc()
        raise refusal
    observability.CARD_LOGINS.labels(outcome=outcome.value).inc()
    return LoginResult(outcome=outcome, card=card)


def _judge_card(card: OtpCard, challenge: str, password: str, now) -> LoginOutcome:
    """The outcome of one answer; changes the (locked) card, does not save it."""
    if not card.latest_challenge or not hmac.compare_digest(card.latest_challenge.encode(), challenge.encode()):
        return LoginOutcome.NO_CHALLENGE
    geometry = card_maths.Geometry(card.rows, card.cols, card.coordinate_card_format)
    if card_maths.answer_matches(card_cells(card), geometry.challenge_index(card.latest_challenge), password):
        card.state = card_maths.next_state(card.state, card_maths.Event.LOGIN_SUCCESS)
        card.latest_challenge = ""
        card.successful_login_count += 1
        card.failed_login_count = 0
        card.last_successful_login_at = now
        return LoginOutcome.SUCCESS
    card.failed_login_count += 1
    card.last_failed_login_at = now
    policy = card.policy
    lock = card_maths.failure_event(
        card_maths.LockPolicy(
            tmp_locking_threshold=policy.tmp_locking_threshold,
            max_cred_failure_count=policy.max_cred_failure_count,
            strict=policy.tmp_locking_mode == TmpLockingMode.STRICT,
        ),
        card.failed_login_count,
    )
    if lock is not None:
        card.state = card_maths.next_state(card.state, lock)
        card.state_change_reason = lock
        card.tmp_locked_until = (
            now + timedelta(seconds=policy.tmp_locking_duration_seconds) if lock == card_maths.Event.TMP_LOCK else None
        )
    return LoginOutcome.WRONG_ANSWER


__all__ = [
    "MAX_CARDS_PER_PERSON",
    "CardLimitReached",
    "CardLocked",
    "CardNotUsable",
    "DuplicateExtId",
    "LoginOutcome",
    "LoginResult",
    "NoCard",
    "PersonByExtIds",
    "StaleVersion",
    "card_aad",
    "card_audit_read",
    "card_cells",
    "card_challenge",
    "card_create",
    "card_delete",
    "card_login",
    "card_otp_string",
    "card_policy_default",
    "card_replace",
    "card_set_state",
    "cards_audit_read",
]
