"""Issuing, sending, checking and reading back one-time codes.

Every rule that counts (daily limit, cooldown, attempts, single use) is decided atomically: issuing locks
the person's row, so parallel issues for one person queue up and see each other's codes; a check writes
what it judged by a conditional UPDATE (only while the code is as it was read), so parallel guesses are
counted one by one and only one can use the code.
"""

import functools
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.db.models import Count, Max, Min, Q, Sum, Value
from django.utils import timezone

from credentials import codes, crypto, delivery, observability, tasks
from credentials.choices import (
    IDENTIFIER_FIELDS,
    Channel,
    IdentifierType,
    Scope,
    VerifyOutcome,
)
from credentials.models import ACTIVE, IssuedCode
from otpusers.audit import AUDIT_INSERT, Actor, audit_event, audit_record, audited_insert, audited_update
from otpusers.choices import Outcome
from otpusers.ids import new_object_id
from otpusers.models import Organization, OtpUser
from otpusers.prepared import PreparedInsert, PreparedLookup, PreparedRow, PreparedUpdate, ReadAhead

DAILY_WINDOW = timedelta(hours=24)
# The longest validity an organization may give a code (its check constraint): no code created longer ago
# than this can still be outstanding, or have been re-sent within the cooldown.
MAX_CODE_VALIDITY = timedelta(days=1)
# A primary key no row has (ids start at 1) and a digest no code has: the lookups and the comparison an
# unknown recipient goes through.
NO_ROW = 0
NO_DIGEST = "0" * 64


class RecipientUnknown(Exception):
    """No person in the organization has this identifier."""


class IssueRefused(Exception):
    """Issuing now would break a limit; `retry_after` is in whole seconds."""

    reason = ""

    def __init__(self, retry_after: int):
        super().__init__(f"{self.reason}; retry in {retry_after} s")
        self.retry_after = retry_after


class DailyLimitReached(IssueRefused):
    reason = "daily issue limit reached"


class CooldownActive(IssueRefused):
    reason = "resend cooldown active"


class DestinationMissing(Exception):
    """A channel names no address and the person has none for it."""


class ChannelUnavailable(Exception):
    """No gateway is configured for the channel (its backend setting is empty); nothing is issued."""

    def __init__(self, channel: str):
        super().__init__(f"no gateway is configured for the {channel} channel")
        self.channel = channel


class ReadBackDisabled(Exception):
    """The organization keeps codes hashed only, so none can be read back."""


class NoValidCode(Exception):
    """No code for this recipient and scope is valid (within the threshold)."""


@dataclass(frozen=True)
class Destination:
    channel: Channel
    address: str


@dataclass(frozen=True)
class IssueResult:
    code: IssuedCode
    resent: bool


def hmac_key() -> bytes:
    if not settings.OTPSITE_HMAC_KEY:
        raise ImproperlyConfigured("OTPSITE_HMAC_KEY is not set.")
    return settings.OTPSITE_HMAC_KEY.encode()


def _digest_matches(*, salt: str, candidate: str, expected: str) -> bool:
    """Whether the candidate's digest under the current HMAC key, or under one of the previous keys still
    accepted during a rotation (OTPSITE_HMAC_PREVIOUS_KEYS), is the stored one. Every key is tried every
    time, so the work does not depend on which matched."""
    matched = False
    for key in (hmac_key(), *(previous.encode() for previous in settings.OTPSITE_HMAC_PREVIOUS_KEYS)):
        matched |= codes.digest_matches(key=key, salt=salt, code=candidate, expected=expected)
    return matched


def _identifier_field(identifier_type: str) -> str:
    return IDENTIFIER_FIELDS[IdentifierType(identifier_type)]


def otp_user_find(
    *, organization: Organization, identifier_type: str, value: str, lock: bool = False
) -> OtpUser | None:
    """The person with this identifier, through its unique index; with `lock`, their row locked (and their
    organization read in the same query, for the limits decided under that lock)."""
    if not value:
        return None
    return PERSON_BY_IDENTIFIER.one_or_none(
        (_identifier_field(identifier_type), lock), organization_id=organization.pk, lowered=value.lower()
    )


def _person_by_identifier(shape: tuple[str, bool], *, organization_id: int, lowered: str):
    field, lock = shape
    people = OtpUser.objects.filter(organization_id=organization_id).with_identifier(field, lowered, lowered=lowered)
    if lock:
        people = people.select_related("organization").select_for_update(of=("self",))
    return people


# The person an identifier names (the hot lookup of every Capillary and manage call), compiled once per
# identifier and locking; identifiers compare case-insensitively, so the value is lowered here as
# identifier_condition would.
PERSON_BY_IDENTIFIER = PreparedLookup(OtpUser, _person_by_identifier, organization_id=int, lowered=str)


def _digits(phone: str) -> str:
    return "".join(character for character in phone if character.isdigit())


def _person_refusal(person: OtpUser | None, phone_number: str | None) -> VerifyOutcome | None:
    """Why the person cannot be sent or checked a code: unknown, deactivated, or a phone number that is not
    theirs; None when they can."""
    if person is None:
        return VerifyOutcome.UNKNOWN_RECIPIENT
    if not person.is_valid:
        return VerifyOutcome.PERSON_INACTIVE
    if phone_number is not None and (not person.mobile or _digits(person.mobile) != _digits(phone_number)):
        return VerifyOutcome.IDENTITY_MISMATCH
    return None


def _recipient(
    *, organization: Organization, identifier_type: str, value: str, phone_number: str | None, lock: bool = False
) -> tuple[OtpUser | None, VerifyOutcome | None]:
    """The active person named by the identifier (and, when given, also by the phone number), or None with
    the reason (see _person_refusal)."""
    person = otp_user_find(organization=organization, identifier_type=identifier_type, value=value, lock=lock)
    reason = _person_refusal(person, phone_number)
    return (None, reason) if reason else (person, None)


def _retry_after(until) -> int:
    return max(math.ceil((until - timezone.now()).total_seconds()), 1)


def _daily_budget(scope: str) -> Q:
    """The codes a new code of `scope` is counted with against the daily limit. Store-page sign-in codes
    have their own count: an anonymous visitor can ask for those (within the store page's own client limits,
    otpsite/limits.py), and must never be able to use up the person's codes on the API surfaces."""
    store = Q(scope=Scope.STORE_LOGIN)
    return store if scope == Scope.STORE_LOGIN else ~store


def _recent_codes_query(store_login: bool, *, person_id, since, window_start, now, scope):
    in_window = Q(created_at__gt=window_start) & _daily_budget(Scope.STORE_LOGIN if store_login else scope)
    outstanding = Q(
        scope=scope,
        consumed_at__isnull=True,
        superseded_at__isnull=True,
        locked_at__isnull=True,
        revoked_at__isnull=True,
        valid_until__gt=now,
    )
    return (
        IssuedCode.objects.filter(otp_user_id=person_id, created_at__gt=since)
        .order_by()
        .values("otp_user_id")
        .annotate(
            sent=Sum("send_count", filter=in_window, default=0),
            oldest=Min("created_at", filter=in_window),
            last_sent=Max("last_sent_at", filter=Q(scope=scope)),
            outstanding=Count("id", filter=outstanding),
            readable_outstanding=Count("id", filter=outstanding & ~Q(code_sealed="")),
        )
    )


RECENT_CODES = PreparedRow(
    IssuedCode, _recent_codes_query, person_id=int, since=datetime, window_start=datetime, now=datetime, scope=str
)
NO_RECENT_CODES = {"sent": 0, "oldest": None, "last_sent": None, "outstanding": 0, "readable_outstanding": 0}


def _recent_codes(person: OtpUser, scope: str, now) -> dict:
    """What the limits and the supersede need to know of the person's codes, in one query over the index on
    (person, created_at): codes sent in the daily window, the oldest of them, the last send for the scope,
    and the scope's outstanding codes. Must run under the person's row lock, after it is taken, so that it
    sees every code a parallel issue committed."""
    cooldown = timedelta(seconds=person.organization.resend_cooldown_seconds)
    return RECENT_CODES.fetch(
        scope == Scope.STORE_LOGIN,
        person_id=person.pk,
        since=now - MAX_CODE_VALIDITY - cooldown,
        window_start=now - DAILY_WINDOW,
        now=now,
        scope=scope,
    ) or dict(NO_RECENT_CODES)


def _outstanding(person: OtpUser, scope: str, now):
    return IssuedCode.objects.outstanding(now).filter(otp_user=person, scope=scope)


def _daily_refusal(person: OtpUser, recent: dict) -> DailyLimitReached | None:
    if recent["sent"] >= person.organization.daily_issue_limit:
        return DailyLimitReached(_retry_after(recent["oldest"] + DAILY_WINDOW))
    return None


def _cooldown_refusal(person: OtpUser, recent: dict, now) -> CooldownActive | None:
    cooldown = timedelta(seconds=person.organization.resend_cooldown_seconds)
    last_sent = recent["last_sent"]
    if cooldown and last_sent and last_sent > now - cooldown:
        return CooldownActive(_retry_after(last_sent + cooldown))
    return None


# Issuing is the hot write of generate and send: the code's INSERT is composed once per process.
NEW_CODE = PreparedInsert(IssuedCode)


def _new_code(*, person: OtpUser, identifier_type: str, identifier_value: str, scope: str, now, **extra):
    """A new code for the person, not yet saved, and its plaintext."""
    organization = person.organization
    plaintext = codes.generate_code(organization.code_length, organization.code_alphabet)
    public_id = new_object_id()
    issued = IssuedCode(
        organization=organization,
        otp_user=person,
        public_id=public_id,
        identifier_type=identifier_type,
        identifier_value=identifier_value,
        scope=scope,
        code_digest=codes.code_digest(key=hmac_key(), salt=public_id, code=plaintext),
        code_sealed=crypto.seal(plaintext, associated_data=public_id) if organization.code_read_back_allowed else "",
        valid_until=now + timedelta(seconds=organization.code_validity_seconds),
        max_attempts=organization.code_max_attempts,
        last_sent_at=now,
        created_at=now,
        **extra,
    )
    return issued, plaintext


def code_issue(
    *,
    organization: Organization,
    identifier_type: str,
    identifier_value: str,
    scope: str,
    destinations: list[Destination],
    actor: Actor,
    surface: str,
    source: str = "",
    account_id: str = "",
    templates: delivery.Templates | None = None,
    resend_outstanding: bool = False,
    phone_number: str | None = None,
) -> IssueResult:
    """Issues a code to the person with this identifier and sends it to each destination.

    `surface` (a credentials.choices.Surface) names the caller: it is kept on the code and in the audit,
    for the dashboard's figures per surface. A new code supersedes the person's outstanding code for the
    scope. With `resend_outstanding` (the
    Capillary case) a still valid code is sent again instead, when the organization keeps codes readable.
    With `phone_number`, the person must also have that mobile number. The sending is queued in the same
    transaction (credentials/tasks.py) and happens on the delivery worker. Raises RecipientUnknown (no such
    active person), DestinationMissing, DailyLimitReached or CooldownActive; a channel without a gateway
    raises ChannelUnavailable before anything is issued.

    The person is found and locked in one query; their recent codes are read in one more (see
    _recent_codes)."""
    detail = {
        "scope": scope,
        "surface": surface,
        "identifier_type": identifier_type,
        "channels": [d.channel for d in destinations],
    }
    with transaction.atomic():
        person, reason = _recipient(
            organization=organization,
            identifier_type=identifier_type,
            value=identifier_value,
            phone_number=phone_number,
            lock=True,
        )
        if person is None:
            audit_record(
                actor=actor,
                action="code.issue",
                organization=organization,
                outcome=Outcome.FAILURE,
                reason=reason.value,
                detail=detail,
            )
        else:
            for destination in destinations:
                if not delivery.channel_available(destination.channel):
                    raise ChannelUnavailable(destination.channel)
            destinations = _resolve_addresses(destinations, person)
            now = timezone.now()
            recent = _recent_codes(person, scope, now)
            issued, plaintext, resent = None, "", False
            refusal = _daily_refusal(person, recent)
            current = None
            if refusal is None and resend_outstanding and recent["readable_outstanding"]:
                current = next(iter(_outstanding(person, scope, now).order_by("-created_at", "-id")[:1]), None)
                if current is not None and not current.code_sealed:
                    current = None
            if refusal is None and current is None:
                # The cooldown spaces out new codes; re-sending the same readable code is only held to the
                # daily limit, as Capillary documents for generate while a code is still valid.
                refusal = _cooldown_refusal(person, recent, now)
            if refusal is None:
                if current is not None:
                    plaintext = crypto.unseal(current.code_sealed, associated_data=current.public_id)
                    current.send_count += 1
                    current.last_sent_at = now
                    current.save(update_fields=["send_count", "last_sent_at"])
                    issued, resent = current, True
                else:
                    if recent["outstanding"]:
                        _outstanding(person, scope, now).update(superseded_at=now)
                    issued, plaintext = _new_code(
                        person=person,
                        identifier_type=identifier_type,
                        identifier_value=identifier_value,
                        scope=scope,
                        now=now,
                        surface=surface,
                        source=source,
                        account_id=account_id,
                        channels=[destination.channel for destination in destinations],
                    )
                event = audit_event(
                    actor=actor,
                    action="code.resend" if resent else "code.issue",
                    organization=organization,
                    target=issued,
                    detail=detail,
                )
                if resent:
                    AUDIT_INSERT.save(event)
                elif connection.vendor == "postgresql":
                    # The code and the event of its issue in one statement.
                    audited_insert(event=event, insert=NEW_CODE, instance=issued)
                else:
                    NEW_CODE.save(issued)
                    AUDIT_INSERT.save(event)
                tasks.enqueue_delivery(
                    issued=issued,
                    plaintext=plaintext,
                    destinations=destinations,
                    templates=templates or delivery.Templates(),
                    actor=actor,
                )
    if person is None:
        raise RecipientUnknown(identifier_value)
    if refusal is not None:
        audit_record(
            actor=actor,
            action="code.issue",
            organization=organization,
            target=person,
            outcome=Outcome.FAILURE,
            reason=refusal.reason,
            detail={**detail, "retry_after": refusal.retry_after},
        )
        raise refusal

    for destination in destinations:
        observability.CODES_ISSUED.labels(
            surface=observability.surface(), scope=scope, channel=destination.channel
        ).inc()
    return IssueResult(code=issued, resent=resent)


def _resolve_addresses(destinations: list[Destination], person: OtpUser) -> list[Destination]:
    resolved = []
    for destination in destinations:
        own = person.email if destination.channel == Channel.EMAIL else person.mobile
        address = destination.address or own
        if not address:
            raise DestinationMissing(f"no {destination.channel} address given, and the person has none")
        resolved.append(Destination(destination.channel, address))
    return resolved


@functools.cache
def _row_reading(model, vendor: str) -> tuple[list[str], list[tuple[int, list, object]]]:
    """The attribute names of `model`'s concrete columns, and for the columns that need it the ORM's
    converters (worked out once per model and database vendor)."""
    fields = model._meta.concrete_fields
    converting = []
    for position, field in enumerate(fields):
        column = field.get_col(model._meta.db_table)
        functions = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        if functions:
            converting.append((position, functions, column))
    return [field.attname for field in fields], converting


def _from_row(model, values):
    """A model instance from its concrete columns as the database sent them, converted as the ORM does."""
    names, converting = _row_reading(model, connection.vendor)
    values = list(values)
    if len(values) != len(names):
        raise ValueError(f"{model.__name__}: {len(values)} values for {len(names)} columns")
    for position, functions, column in converting:
        for function in functions:
            values[position] = function(values[position], column, connection)
    return model.from_db(connection.alias, names, values)


def _person_and_latest_code(
    *, organization: Organization, identifier_type: str, value: str, scope: str, ahead: ReadAhead | None = None
) -> tuple[OtpUser | None, IssuedCode | None]:
    """The person named by the identifier and their latest code for the scope (not superseded), in one
    statement, unlocked (code_check writes conditionally): the person through the identifier's unique
    index, then (LATERAL, so per person and never over a time-ordered index of everyone's codes) their
    latest code through the index on (person, scope, created_at). A person without a code comes back with
    None, an unknown one as (None, None). The row `ahead` is used when it was read for the same inputs."""
    if not value:
        return None, None
    if connection.vendor != "postgresql":
        # SQLite (`make run`) has no LATERAL; its transactions take the write lock at BEGIN (settings), so
        # two statements decide as safely as one there.
        person = otp_user_find(organization=organization, identifier_type=identifier_type, value=value)
        if person is None:
            return None, None
        latest = IssuedCode.objects.filter(otp_user=person, scope=scope, superseded_at__isnull=True)
        issued = next(iter(latest.order_by("-created_at", "-id")[:1]), None)
        if issued is not None:
            issued.otp_user = person
        return person, issued
    key = _check_key(organization.pk, identifier_type, value, scope)
    row = ahead.row_for(key) if ahead is not None else False
    if row is False:
        with connection.cursor() as cursor:
            cursor.execute(*_person_and_latest_code_statement(organization.pk, identifier_type, value, scope))
            row = cursor.fetchone()
    if row is None:
        return None, None
    person = _from_row(OtpUser, row[: len(OtpUser._meta.concrete_fields)])
    code_values = row[len(OtpUser._meta.concrete_fields) :]
    if code_values[0] is None:
        return person, None
    issued = _from_row(IssuedCode, code_values)
    issued.otp_user = person
    return person, issued


def _check_key(organization_id: int, identifier_type: str, value: str, scope: str) -> tuple:
    return ("code_check", organization_id, identifier_type, value, scope)


def _person_and_latest_code_statement(
    organization_id: int, identifier_type: str, value: str, scope: str
) -> tuple[str, list]:
    people_sql, people_params = PERSON_BY_IDENTIFIER.statement(
        (_identifier_field(identifier_type), False), organization_id=organization_id, lowered=value.lower()
    )
    quote = connection.ops.quote_name
    code_columns = ", ".join(quote(field.column) for field in IssuedCode._meta.concrete_fields)
    sql = (
        f"SELECT person.*, code.* FROM ({people_sql}) person LEFT JOIN LATERAL ("
        f"SELECT {code_columns} FROM {quote(IssuedCode._meta.db_table)} "
        f"WHERE {quote('otp_user_id')} = person.{quote('id')} AND {quote('scope')} = %s "
        f"AND {quote('superseded_at')} IS NULL "
        f"ORDER BY {quote('created_at')} DESC, {quote('id')} DESC LIMIT 1) code ON TRUE"
    )
    return sql, [*people_params, scope]


def code_check_ahead(
    *, organization_id: int, identifier_type: str, identifier_value: str, scope: str
) -> ReadAhead | None:
    """code_check's first read, to be made ahead (ReadAhead) and passed back to it; PostgreSQL only."""
    if connection.vendor != "postgresql" or not identifier_value or identifier_type not in IDENTIFIER_FIELDS:
        return None
    return ReadAhead(
        _check_key(organization_id, identifier_type, identifier_value, scope),
        *_person_and_latest_code_statement(organization_id, identifier_type, identifier_value, scope),
    )


def _judge(issued: IssuedCode | None, candidate: str, now) -> VerifyOutcome:
    """The outcome of checking `candidate` against the locked row; changes the row, does not save it."""
    if issued is None:
        # The same keyed hashes as a real check, so that having no code does not answer faster.
        _digest_matches(salt=new_object_id(), candidate=candidate, expected=NO_DIGEST)
        return VerifyOutcome.NO_CODE
    matches = _digest_matches(salt=issued.public_id, candidate=candidate, expected=issued.code_digest)
    if issued.revoked_at:
        return VerifyOutcome.REVOKED
    if issued.consumed_at:
        return VerifyOutcome.USED
    if issued.locked_at or issued.attempts >= issued.max_attempts:
        return VerifyOutcome.LOCKED
    if issued.valid_until <= now:
        return VerifyOutcome.EXPIRED
    if matches:
        issued.consumed_at = now
        return VerifyOutcome.SUCCESS
    issued.attempts += 1
    if issued.attempts >= issued.max_attempts:
        issued.locked_at = now
    return VerifyOutcome.WRONG


def _checked_code(shape, *, code_id: int, attempts_before: int, consumed_at, attempts: int, locked_at):
    """The code a check judged, changed only while it is as the check read it: open, with the attempts it had
    (Value: an exact lookup would refuse the stand-in as out of range for the column)."""
    changes = {"consumed_at": consumed_at, "attempts": attempts, "locked_at": locked_at}
    as_read = IssuedCode.objects.filter(ACTIVE, pk=code_id, attempts=Value(attempts_before))
    return as_read, changes


# What a check changes on the code it judged (the same UPDATE whatever the outcome), compiled once.
CHECKED_CODE = PreparedUpdate(
    IssuedCode,
    _checked_code,
    code_id=int,
    attempts_before=int,
    consumed_at=datetime,
    attempts=int,
    locked_at=datetime,
)
# A right code with `record_login`: the person's last login.
LOGGED_IN = PreparedUpdate(
    OtpUser, lambda shape, *, person_id, at: (OtpUser.objects.filter(pk=person_id), {"last_login_at": at}),
    person_id=int,
    at=datetime,
)  # fmt: skip


@dataclass(frozen=True)
class VerifyResult:
    outcome: VerifyOutcome
    person: OtpUser | None  # the person the code was checked for; None when it was not checked


def code_check(
    *,
    organization: Organization,
    identifier_type: str,
    identifier_value: str,
    scope: str,
    code: str,
    actor: Actor,
    surface: str,
    phone_number: str | None = None,
    record_login: bool = False,
    ahead: ReadAhead | None = None,
) -> VerifyResult:
    """Checks a code against the person's latest code for the scope.

    A wrong guess counts one attempt and locks the code at the organization's maximum; a right one uses
    the code (and, with `record_login`, sets the person's last login). `surface` (a Surface) names the
    caller in the audit, for the dashboard's figures per surface. With `phone_number`, the person must
    also have that mobile number. Callers answer every outcome but SUCCESS alike; the precise one goes to
    the audit log.

    The person and their latest code are found in one query through the unique index on the identifier
    and the index on (person, scope, created_at) (see _person_and_latest_code); the code is judged, and
    what the judgement changes is written by a conditional UPDATE: only while the code is still open with
    the attempts that were read. On PostgreSQL that UPDATE, the login and the audit event are one statement
    (no transaction to open or commit); when a parallel check changed the code first, nothing is written
    and the check starts again from the read, so parallel guesses are counted one by one and only one can
    use the code. Elsewhere (SQLite under `make run`) the same runs in one transaction that holds the
    database's write lock. Whether or not the recipient exists or has a code, the same statements run and
    the same keyed hashes are computed, so that timing does not tell."""
    candidate = codes.normalize_code(code)
    while True:
        if connection.vendor == "postgresql":
            outcome, person = _check_once(
                organization, identifier_type, identifier_value, scope, candidate, actor, surface, phone_number,
                record_login, ahead,
            )  # fmt: skip
        else:
            with transaction.atomic():
                outcome, person = _check_once(
                    organization, identifier_type, identifier_value, scope, candidate, actor, surface, phone_number,
                    record_login, None,
                )  # fmt: skip
        if outcome is not None:
            break
        ahead = None  # what was read ahead changed since: read again
    observability.CODE_VERIFICATIONS.labels(surface=observability.surface(), outcome=outcome.value).inc()
    return VerifyResult(outcome=outcome, person=person)


def _check_once(
    organization, identifier_type, identifier_value, scope, candidate, actor, surface, phone_number, record_login,
    ahead,
) -> tuple[VerifyOutcome | None, OtpUser | None]:  # fmt: skip
    """One read, judgement and write of code_check; (None, None) when the code changed after it was read."""
    now = timezone.now()
    person, issued = _person_and_latest_code(
        organization=organization, identifier_type=identifier_type, value=identifier_value, scope=scope, ahead=ahead
    )
    reason = _person_refusal(person, phone_number)
    if reason is not None:
        person, issued = None, None
    attempts_before = issued.attempts if issued else 0
    outcome = _judge(issued, candidate, now)
    if reason is not None:
        outcome = reason
    changed = issued if outcome in (VerifyOutcome.SUCCESS, VerifyOutcome.WRONG) else None
    update = CHECKED_CODE.statement(
        code_id=changed.pk if changed else NO_ROW,
        attempts_before=attempts_before,
        consumed_at=changed.consumed_at if changed else None,
        attempts=changed.attempts if changed else 0,
        locked_at=changed.locked_at if changed else None,
    )
    login = None
    if outcome == VerifyOutcome.SUCCESS and record_login:
        login = LOGGED_IN.statement(person_id=person.pk, at=now)
    event = audit_event(
        actor=actor,
        action="code.verify",
        organization=organization,
        target=issued or person,
        outcome=Outcome.SUCCESS if outcome == VerifyOutcome.SUCCESS else Outcome.FAILURE,
        reason=outcome.value,
        detail={
            "scope": scope,
            "surface": surface,
            "identifier_type": identifier_type,
            "attempts": issued.attempts if issued else None,
        },
    )
    if connection.vendor == "postgresql":
        if not audited_update(event=event, update=update, then=login, only_if_updated=changed is not None):
            return None, None
    else:
        with connection.cursor() as cursor:
            cursor.execute(*update)
            if cursor.rowcount == 0 and changed is not None:
                return None, None
            if login is not None:
                cursor.execute(*login)
        AUDIT_INSERT.save(event)
    if login is not None:
        person.last_login_at = now
    return outcome, person


def code_verify(
    *,
    organization: Organization,
    identifier_type: str,
    identifier_value: str,
    scope: str,
    code: str,
    actor: Actor,
    surface: str,
    phone_number: str | None = None,
    record_login: bool = False,
    ahead: ReadAhead | None = None,
) -> VerifyOutcome:
    """code_check's outcome alone."""
    return code_check(
        organization=organization,
        identifier_type=identifier_type,
        identifier_value=identifier_value,
        scope=scope,
        code=code,
        actor=actor,
        surface=surface,
        phone_number=phone_number,
        record_login=record_login,
        ahead=ahead,
    ).outcome


def _readable_code(field: str, *, organization_id: int, lowered: str, scope: str, now, since):
    person = (
        OtpUser.objects.filter(organization_id=organization_id).with_identifier(field, lowered, lowered=lowered)
    ).as_one_id()
    return (
        IssuedCode.objects.outstanding(now)
        .filter(otp_user=person, scope=scope, created_at__gte=since)
        .exclude(code_sealed="")
        .order_by("-created_at", "-id")
    )


# The newest readable code of the person an identifier names, for the scope, issued since a moment: the
# Capillary read-back, compiled once per identifier.
READABLE_CODE = PreparedLookup(
    IssuedCode,
    _readable_code,
    ordered=True,
    organization_id=int,
    lowered=str,
    scope=str,
    now=datetime,
    since=datetime,
)


def code_read_back_ahead(
    *, organization_id: int, identifier_type: str, identifier_value: str, scope: str, threshold_seconds: int | None
) -> ReadAhead | None:
    """code_read_back's read of the code, to be made ahead (ReadAhead) and passed back to it."""
    if not identifier_value or identifier_type not in IDENTIFIER_FIELDS:
        return None
    now = timezone.now()
    return READABLE_CODE.ahead(
        _identifier_field(identifier_type),
        organization_id=organization_id,
        lowered=identifier_value.lower(),
        scope=scope,
        now=now,
        since=_read_back_since(now, threshold_seconds),
    )


def _read_back_since(now: datetime, threshold_seconds: int | None) -> datetime:
    # Any age without a threshold: the code's own validity bounds it.
    return now - (timedelta(seconds=threshold_seconds) if threshold_seconds is not None else MAX_CODE_VALIDITY)


def code_read_back(
    *,
    organization: Organization,
    identifier_type: str,
    identifier_value: str,
    scope: str,
    threshold_seconds: int | None,
    actor: Actor,
    source: str = "",
    account_id: str = "",
    ahead: ReadAhead | None = None,
) -> tuple[IssuedCode, str]:
    """The most recent valid code for the recipient and scope, issued within `threshold_seconds` (any age
    when None), with its plaintext. Every call is audited, refused or not."""
    detail = {"scope": scope, "identifier_type": identifier_type, "threshold": threshold_seconds}
    if source:
        detail.update(source=source, account_id=account_id)

    def refuse(reason: str, error: Exception, target=None):
        audit_record(
            actor=actor,
            action="code.read_back",
            organization=organization,
            target=target,
            outcome=Outcome.FAILURE,
            reason=reason,
            detail=detail,
        )
        raise error

    if not organization.code_read_back_allowed:
        refuse("read_back_disabled", ReadBackDisabled())
    now = timezone.now()
    issued = None
    if identifier_value:
        # The person and their code in one query; the person alone only when there is no code, to audit why.
        issued = READABLE_CODE.one_or_none(
            _identifier_field(identifier_type),
            ahead=ahead,
            organization_id=organization.pk,
            lowered=identifier_value.lower(),
            scope=scope,
            now=now,
            since=_read_back_since(now, threshold_seconds),
        )
    if issued is None:
        person = otp_user_find(organization=organization, identifier_type=identifier_type, value=identifier_value)
        if person is None:
            refuse(VerifyOutcome.UNKNOWN_RECIPIENT.value, NoValidCode())
        refuse("no_valid_code", NoValidCode(), target=person)
    plaintext = crypto.unseal(issued.code_sealed, associated_data=issued.public_id)
    audit_record(actor=actor, action="code.read_back", organization=organization, target=issued, detail=detail)
    return issued, plaintext


@transaction.atomic
def code_revoke(*, issued: IssuedCode, actor: Actor) -> bool:
    """Revokes an outstanding code; False when it was no longer outstanding."""
    revoked = IssuedCode.objects.outstanding().filter(pk=issued.pk).update(revoked_at=timezone.now())
    if revoked:
        audit_record(actor=actor, action="code.revoke", organization=issued.organization, target=issued)
    return bool(revoked)


__all__ = [
    "DAILY_WINDOW",
    "ChannelUnavailable",
    "CooldownActive",
    "DailyLimitReached",
    "Destination",
    "DestinationMissing",
    "IssueRefused",
    "IssueResult",
    "NoValidCode",
    "ReadBackDisabled",
    "RecipientUnknown",
    "VerifyResult",
    "code_check",
    "code_check_ahead",
    "code_issue",
    "code_read_back",
    "code_read_back_ahead",
    "code_revoke",
    "code_verify",
    "hmac_key",
    "otp_user_find",
]
