"""Writes shared by the admin, the API surfaces and the store page. Each takes keyword arguments, runs in
one transaction, validates through the model or, on the API's hot paths, through the database's constraints
(mapped to the same ValidationError), and writes an AuditEvent."""

import base64
import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import reduce
from operator import or_

import jwt
from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, Value
from django.utils import timezone

from otpusers.audit import AUDIT_INSERT, Actor, audit_event, audit_record, audited_update
from otpusers.choices import ActorType, Outcome
from otpusers.models import (
    MAX_SAFE_INTEGER,
    UNLIMITED_DOWNLOADS,
    ApiKey,
    AppAccess,
    AuditEvent,
    Organization,
    OtpUser,
    PublishedApplication,
    one_or_none,
)
from otpusers.prepared import PreparedUpdate
from otpusers.registry import surfaces_of, unknown_permission_names
from otpusers.signals import new_build_published

# How stale last_used_at may get before a request refreshes it: one write a minute per key at most,
# instead of one per request.
API_KEY_LAST_USED_RESOLUTION = timedelta(minutes=1)


#
# App accesses (Applivery "OTP users")
#


def _save_validated(instance, *, conflict_field: str) -> None:
    """full_clean() then save(); a constraint lost to a parallel writer becomes the same ValidationError
    full_clean() would have raised had it seen the other row."""
    instance.full_clean()
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError:
        raise ValidationError({conflict_field: ["Another request has just created the same record."]}) from None


def _violated_constraint(error: IntegrityError) -> str:
    return getattr(getattr(error.__cause__, "diag", None), "constraint_name", None) or str(error)


def _insert(instance, *, conflicts: dict[str, tuple[str, str]]) -> None:
    """Inserts a row whose fields the caller has validated, leaving uniqueness and ranges to the database's
    constraints (no full_clean, whose checks cost a query each). A violated constraint named in `conflicts`
    (name → field, message) becomes the ValidationError full_clean would have raised."""
    try:
        with transaction.atomic():
            instance.save(force_insert=True)
    except IntegrityError as error:
        violated = _violated_constraint(error)
        for name, (field, message) in conflicts.items():
            if name in violated:
                raise ValidationError({field: [message]}) from None
        raise


@transaction.atomic
def otp_user_get_or_create_by_email(*, organization: Organization, email: str, actor: Actor) -> OtpUser:
    """The organization's person with this email (any case), made when there is none. The email must be
    valid already (the callers' forms and serializers check it)."""
    person = one_or_none(OtpUser.objects.filter(organization=organization).with_identifier("email", email))
    if person is not None:
        return person
    person = OtpUser(organization=organization, email=email)
    _insert(
        person,
        conflicts={"otpusers_otpuser_unique_email": ("email", "Another request has just created the same record.")},
    )
    audit_record(actor=actor, action="otp_user.create", organization=organization, target=person)
    return person


ALREADY_HAS_ACCESS = "This person already has access to this published application."
ACCESS_CONFLICTS = {
    "otpusers_appaccess_unique_person": ("otp_user", ALREADY_HAS_ACCESS),
    "otpusers_appaccess_allowed_downloads_range": (
        NON_FIELD_ERRORS,
        next(
            c for c in AppAccess._meta.constraints if c.name.endswith("allowed_downloads_range")
        ).violation_error_message,
    ),
}


# What staff may set on a person by hand or by import: the identifiers and the name.
OTP_USER_EDITABLE_FIELDS = (
    "email",
    "mobile",
    "external_id",
    "wechat_id",
    "user_name",
    "ext_id",
    "first_name",
    "last_name",
)


def _editable(fields: dict) -> dict:
    unknown = set(fields) - set(OTP_USER_EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({name: ["This field cannot be set here."] for name in sorted(unknown)})
    return fields


@transaction.atomic
def otp_user_create(*, organization: Organization, actor: Actor, **fields: str) -> OtpUser:
    """A new person; each identifier must be free in the organization (checked, and held by constraints)."""
    person = OtpUser(organization=organization, **_editable(fields))
    _save_validated(person, conflict_field="email")
    audit_record(
        actor=actor,
        action="otp_user.create",
        organization=organization,
        target=person,
        detail={"fields": sorted(name for name, value in fields.items() if value)},
    )
    return person


@transaction.atomic
def otp_user_update(*, person: OtpUser, actor: Actor, **fields: str) -> OtpUser:
    changed = {name: value for name, value in _editable(fields).items() if getattr(person, name) != value}
    if not changed:
        return person
    for name, value in changed.items():
        setattr(person, name, value)
    person.full_clean()
    person.save(update_fields=[*changed, "updated_at"])
    audit_record(
        actor=actor,
        action="otp_user.update",
        organization=person.organization,
        target=person,
        detail={"changed": sorted(changed)},
    )
    return person


# The identifiers each unique (ignoring case) within an organization, by the constraints on OtpUser.
OTP_USER_IDENTIFIERS = ("email", "mobile", "external_id", "wechat_id", "user_name", "ext_id")
# An identifier claimed by an earlier row of the same batch, not by a stored person.
EARLIER_ROW = 0


@dataclass
class IdentifiersInUse:
    """The identifiers that people of some organizations hold, for checking a batch of new or changed
    people (an import) without a query per person: read once (otp_user_identifiers_in_use), then kept
    current as each person of the batch is checked (otp_user_check)."""

    # (identifier field, organization id, lower-cased value) → the id of the person holding it.
    holders: dict[tuple[str, int, str], int] = field(default_factory=dict)
    # The people read, by organization id and lower-cased email (the key an import finds a person by).
    by_email: dict[tuple[int, str], OtpUser] = field(default_factory=dict)

    def add(self, person: OtpUser, holder: int) -> None:
        for name in OTP_USER_IDENTIFIERS:
            if value := getattr(person, name):
                self.holders.setdefault((name, person.organization_id, value.lower()), holder)


# Rows looked up per statement: the lists of values stay well below any driver's parameter limit.
IDENTIFIERS_PER_QUERY = 5_000


def otp_user_identifiers_in_use(*, organization_ids: set[int], values: dict[str, set[str]]) -> IdentifiersInUse:
    """Which of `values` (per identifier field) the people of these organizations hold: one query per
    5 000 values of each field, through the unique index on each identifier."""
    in_use = IdentifiersInUse()
    lowered = {
        name: sorted({value.lower() for value in values.get(name, ()) if value}) for name in OTP_USER_IDENTIFIERS
    }
    longest = max((len(found) for found in lowered.values()), default=0)
    for start in range(0, longest, IDENTIFIERS_PER_QUERY):
        # Each in the form the identifier's partial unique index on (lower(field), organization) serves.
        conditions = [
            Q(**{f"{name}__lower__in": found[start : start + IDENTIFIERS_PER_QUERY], f"{name}__is_set": True})
            for name, found in lowered.items()
            if found[start : start + IDENTIFIERS_PER_QUERY]
        ]
        for person in OtpUser.objects.filter(organization_id__in=organization_ids).filter(reduce(or_, conditions)):
            in_use.add(person, person.pk)
            if person.email:
                in_use.by_email[(person.organization_id, person.email.lower())] = person
    return in_use


def otp_user_check(*, person: OtpUser, in_use: IdentifiersInUse) -> None:
    """Validates a new or changed person as full_clean does, but checks each identifier's uniqueness in
    `in_use` rather than with a query per constraint; then claims the person's identifiers there, so that
    a later person of the same batch with one of them is refused too. The organization must come from the
    caller's scoped choices. The constraints still hold in the database, for writers outside the batch."""
    errors: dict[str, list] = {}
    try:
        person.full_clean(exclude=["organization"], validate_unique=False, validate_constraints=False)
    except ValidationError as error:
        errors = error.update_error_dict(errors)
    if person.organization_id is not None:
        for name in OTP_USER_IDENTIFIERS:
            value = getattr(person, name)
            holder = in_use.holders.get((name, person.organization_id, value.lower())) if value else None
            if holder is not None and holder != person.pk:
                message = (
                    f"An earlier row has this {name.replace('_', ' ')}."
                    if holder == EARLIER_ROW
                    else f"Another person in this organization has this {name.replace('_', ' ')}."
                )
                errors.setdefault(name, []).append(message)
    if errors:
        raise ValidationError(errors)
    in_use.add(person, person.pk or EARLIER_ROW)


def _conflict_as_validation_error(error: IntegrityError) -> ValidationError:
    return ValidationError(
        f"Another request has just written a person with the same identifier ({_violated_constraint(error)}); "
        "nothing was imported. Import the file again."
    )


# People written per INSERT or UPDATE statement.
PEOPLE_PER_STATEMENT = 1_000


@transaction.atomic
def otp_users_create_checked(*, people: list[OtpUser], actor: Actor) -> list[OtpUser]:
    """Inserts people that otp_user_check has passed (an import's new rows), with an audit event each:
    two INSERTs per thousand people. A person another writer has just created with one of the identifiers
    fails the whole call (the unique constraints hold): the caller's transaction is all or nothing."""
    try:
        with transaction.atomic():
            OtpUser.objects.bulk_create(people, batch_size=PEOPLE_PER_STATEMENT)
    except IntegrityError as error:
        raise _conflict_as_validation_error(error) from None
    AuditEvent.objects.bulk_create(
        [
            audit_event(
                actor=actor,
                action="otp_user.create",
                organization=person.organization,
                target=person,
                detail={"fields": sorted(name for name in OTP_USER_EDITABLE_FIELDS if getattr(person, name))},
            )
            for person in people
        ],
        batch_size=PEOPLE_PER_STATEMENT,
    )
    return people


@transaction.atomic
def otp_users_update_checked(*, changes: list[tuple[OtpUser, list[str]]], actor: Actor) -> None:
    """Saves people that otp_user_check has passed (an import's changed rows), each with the names of the
    fields that changed, and audits each: an UPDATE and an INSERT per thousand people."""
    changes = [(person, sorted(changed)) for person, changed in changes if changed]
    if not changes:
        return
    now = timezone.now()
    for person, _ in changes:
        person.updated_at = now
    fields = sorted({name for _, changed in changes for name in _editable(dict.fromkeys(changed))})
    try:
        with transaction.atomic():
            OtpUser.objects.bulk_update(
                [person for person, _ in changes], [*fields, "updated_at"], batch_size=PEOPLE_PER_STATEMENT
            )
    except IntegrityError as error:
        raise _conflict_as_validation_error(error) from None
    AuditEvent.objects.bulk_create(
        [
            audit_event(
                actor=actor,
                action="otp_user.update",
                organization=person.organization,
                target=person,
                detail={"changed": changed},
            )
            for person, changed in changes
        ],
        batch_size=PEOPLE_PER_STATEMENT,
    )


@transaction.atomic
def otp_user_deactivate(*, person: OtpUser, reason: str, actor: Actor) -> OtpUser:
    """Switches the person off: no code is issued to them or accepted from them any more."""
    OtpUser.objects.filter(pk=person.pk).update(is_valid=False, updated_at=timezone.now())
    audit_record(
        actor=actor,
        action="otp_user.deactivate",
        organization=person.organization,
        target=person,
        reason=reason[:200],
        detail={"was_valid": person.is_valid},
    )
    person.is_valid = False
    return person


@transaction.atomic
def app_access_create(
    *,
    published_application: PublishedApplication,
    otp_user: OtpUser,
    allowed_downloads_num: int,
    actor: Actor,
) -> AppAccess:
    organization = published_application.store.organization
    if otp_user.organization_id != organization.pk:
        raise ValidationError({"otp_user": ["This person belongs to another organization."]})
    access = AppAccess(
        published_application=published_application,
        store_id=published_application.store_id,
        otp_user=otp_user,
        allowed_downloads_num=allowed_downloads_num,
    )
    _insert(access, conflicts=ACCESS_CONFLICTS)
    audit_record(
        actor=actor,
        action="app_access.create",
        organization=organization,
        target=access,
        detail={"email": otp_user.email, "allowed_downloads_num": allowed_downloads_num},
    )
    return access


@transaction.atomic
def app_access_create_for_emails(
    *,
    published_application: PublishedApplication,
    emails: list[str],
    allowed_downloads_num: int,
    actor: Actor,
) -> list[AppAccess]:
    """Gives each email access to the application, making the person where the organization has none.

    All or nothing: when any email cannot be given access, none is."""
    seen: set[str] = set()
    for email in emails:
        if email.lower() in seen:
            raise ValidationError({"email": [f"{email} is listed twice."]})
        seen.add(email.lower())
    organization = published_application.store.organization
    accesses = []
    for email in emails:
        person = otp_user_get_or_create_by_email(organization=organization, email=email, actor=actor)
        try:
            access = app_access_create(
                published_application=published_application,
                otp_user=person,
                allowed_downloads_num=allowed_downloads_num,
                actor=actor,
            )
        except ValidationError as error:
            if "otp_user" in error.message_dict:
                raise ValidationError({"email": [f"{email} already has access to this application."]}) from None
            raise
        accesses.append(access)
    return accesses


@transaction.atomic
def _allowance(shape, *, access_id: int, previous: int, allowed: int, at: datetime):
    # Value: an exact lookup would refuse the stand-in as out of the column's range.
    as_read = AppAccess.objects.filter(pk=access_id, allowed_downloads_num=Value(previous))
    return as_read, {"allowed_downloads_num": allowed, "updated_at": at}


# The allowance set, while it is what the caller read (compiled once).
ALLOWANCE_SET = PreparedUpdate(AppAccess, _allowance, access_id=int, previous=int, allowed=int, at=datetime)


def app_access_update(*, access: AppAccess, allowed_downloads_num: int, actor: Actor) -> AppAccess:
    """Sets the allowance. One UPDATE conditional on the value the caller read decides it, written with its
    audit event as one statement on PostgreSQL; when another writer changed it since, the row is read again
    under a lock, so the audited previous value is exact."""
    now = timezone.now()
    row = AppAccess.objects.filter(pk=access.pk)
    previous = access.allowed_downloads_num
    if not UNLIMITED_DOWNLOADS <= allowed_downloads_num <= MAX_SAFE_INTEGER:
        # The range constraint's own refusal, before a statement that would fail on it.
        field, message = ACCESS_CONFLICTS["otpusers_appaccess_allowed_downloads_range"]
        raise ValidationError({field: [message]})
    organization = access.published_application.store.organization
    if connection.vendor == "postgresql":
        written = audited_update(
            event=audit_event(
                actor=actor,
                action="app_access.update",
                organization=organization,
                target=access,
                detail={"allowed_downloads_num": [previous, allowed_downloads_num]},
            ),
            update=ALLOWANCE_SET.statement(
                access_id=access.pk, previous=previous, allowed=allowed_downloads_num, at=now
            ),
            only_if_updated=True,
        )
        if written:
            access.allowed_downloads_num = allowed_downloads_num
            access.updated_at = now
            return access
    try:
        with transaction.atomic():
            changes = {"allowed_downloads_num": allowed_downloads_num, "updated_at": now}
            if not row.filter(allowed_downloads_num=previous).update(**changes):
                previous = row.select_for_update().values_list("allowed_downloads_num", flat=True).get()
                row.update(**changes)
    except IntegrityError as error:
        field, message = ACCESS_CONFLICTS["otpusers_appaccess_allowed_downloads_range"]
        if "allowed_downloads_range" in _violated_constraint(error):
            raise ValidationError({field: [message]}) from None
        raise
    access.allowed_downloads_num = allowed_downloads_num
    access.updated_at = now
    audit_record(
        actor=actor,
        action="app_access.update",
        organization=organization,
        target=access,
        detail={"allowed_downloads_num": [previous, allowed_downloads_num]},
    )
    return access


@transaction.atomic
def app_access_reset_downloads(*, access: AppAccess, reason: str, actor: Actor) -> AppAccess:
    """Gives the person their whole allowance again (downloads used back to zero)."""
    locked = AppAccess.objects.select_for_update().get(pk=access.pk)
    previous = locked.downloads_used
    AppAccess.objects.filter(pk=access.pk).update(downloads_used=0, updated_at=timezone.now())
    audit_record(
        actor=actor,
        action="app_access.reset_downloads",
        organization=access.published_application.store.organization,
        target=access,
        reason=reason[:200],
        detail={"downloads_used": [previous, 0]},
    )
    access.downloads_used = 0
    return access


# A sign-in's moment (compiled once).
SIGNED_IN = PreparedUpdate(
    AppAccess,
    lambda shape, *, access_id, at: (AppAccess.objects.filter(pk=access_id), {"last_login_at": at}),
    access_id=int,
    at=datetime,
)


def app_access_record_login(*, access: AppAccess, actor: Actor) -> AppAccess:
    """Marks a sign-in to the store page with an emailed code (Applivery's lastLoginDate), with its audit
    event: one statement on PostgreSQL, one transaction elsewhere."""
    now = timezone.now()
    organization = access.published_application.store.organization
    event = audit_event(actor=actor, action="app_access.login", organization=organization, target=access)
    update = SIGNED_IN.statement(access_id=access.pk, at=now)
    if connection.vendor == "postgresql":
        audited_update(event=event, update=update, only_if_updated=False)
    else:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(*update)
            AUDIT_INSERT.save(event)
    access.last_login_at = now
    return access


def app_access_consume_download(*, access: AppAccess, actor: Actor) -> bool:
    """Takes one download from the allowance, or refuses when none is left (-1: unlimited).

    One conditional UPDATE decides it, so parallel downloads can never take more than the allowance."""
    now = timezone.now()
    with transaction.atomic():
        taken = AppAccess.objects.filter(
            Q(allowed_downloads_num=UNLIMITED_DOWNLOADS) | Q(downloads_used__lt=F("allowed_downloads_num")),
            pk=access.pk,
        ).update(downloads_used=F("downloads_used") + 1, last_download_at=now)
        audit_record(
            actor=actor,
            action="app_access.download",
            organization=access.published_application.store.organization,
            target=access,
            outcome=Outcome.SUCCESS if taken else Outcome.FAILURE,
            reason="" if taken else "allowance_used_up",
        )
    return bool(taken)


@transaction.atomic
def app_access_delete(*, access: AppAccess, actor: Actor) -> None:
    audit_record(
        actor=actor,
        action="app_access.delete",
        organization=access.published_application.store.organization,
        target=access,
        detail={
            "email": access.otp_user.email,
            "published_application": access.published_application.public_id,
        },
    )
    access.delete()


@transaction.atomic
def published_application_announce_build(
    *, published_application: PublishedApplication, store_page_url: str, actor: Actor
) -> bool:
    """Records that a new build of the application was uploaded and, when the application notifies its
    OTP users, has them told once the upload is committed (new_build_published). True when they will be."""
    notify = published_application.notify_otp_users_on_new_build
    audit_record(
        actor=actor,
        action="published_application.new_build",
        organization=published_application.store.organization,
        target=published_application,
        detail={"build": published_application.build_file.name, "notify_otp_users": notify},
    )
    if notify:
        transaction.on_commit(
            lambda: new_build_published.send(
                sender=PublishedApplication,
                published_application=published_application,
                store_page_url=store_page_url,
                actor=actor,
            )
        )
    return notify


#
# API keys
#


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def api_key_token(api_key: ApiKey, secret: str) -> str:
    """The Bearer token a client sends: the public key id and the secret."""
    return f"{api_key.key_id}.{secret}"


def _validate_permission_names(permissions: list[str]) -> list[str]:
    unknown = unknown_permission_names(permissions)
    if unknown:
        raise ValidationError({"permissions": [f"Unknown permission names: {', '.join(unknown)}."]})
    return sorted(set(permissions))


@transaction.atomic
def api_key_create(
    *,
    organization: Organization,
    name: str,
    permissions: list[str],
    actor: Actor,
    expires_at: datetime | None = None,
    requests_per_minute: int | None = None,
) -> tuple[ApiKey, str]:
    """Makes a key and returns it with its secret, which is not kept and cannot be shown again."""
    secret = secrets.token_urlsafe(32)
    api_key = ApiKey(
        organization=organization,
        name=name,
        key_id=secrets.token_hex(8),
        secret_sha256=_sha256(secret),
        secret_md5_sha256=_sha256(hashlib.md5(secret.encode()).hexdigest()),
        permissions=_validate_permission_names(permissions),
        expires_at=expires_at,
        requests_per_minute=requests_per_minute,
        created_by=actor.user if actor.user is not None and actor.user.is_authenticated else None,
    )
    _save_validated(api_key, conflict_field="key_id")
    audit_record(
        actor=actor,
        action="api_key.create",
        organization=organization,
        target=api_key,
        detail={"name": name, "permissions": api_key.permissions, "requests_per_minute": requests_per_minute},
    )
    return api_key, secret


@dataclass(frozen=True)
class SurfaceCredential:
    """What a client of one surface sends: the Authorization header, and the parts it is made of."""

    surface: str
    header: str
    user_name: str = ""
    password: str = ""


def api_key_credentials(api_key: ApiKey, secret: str) -> list[SurfaceCredential]:
    """The exact credential for each surface the key's permissions reach (shown once, with the secret)."""
    credentials = []
    for surface, scheme in surfaces_of(api_key.permissions):
        if scheme == "bearer":
            credentials.append(SurfaceCredential(surface, f"Bearer {api_key_token(api_key, secret)}"))
            continue
        # Capillary clients send the MD5 hex of the password, never the password itself.
        password = hashlib.md5(secret.encode()).hexdigest() if scheme == "basic-md5" else secret
        basic = base64.b64encode(f"{api_key.key_id}:{password}".encode()).decode()
        credentials.append(SurfaceCredential(surface, f"Basic {basic}", api_key.key_id, password))
    return credentials


@transaction.atomic
def api_key_update(
    *,
    api_key: ApiKey,
    name: str,
    permissions: list[str],
    expires_at: datetime | None,
    actor: Actor,
    requests_per_minute: int | None = None,
) -> ApiKey:
    """Changes the key; `requests_per_minute` None means the server's default limit."""
    # As stored (locked): an admin form has already set its values on `api_key`.
    stored = ApiKey.objects.select_for_update().get(pk=api_key.pk)
    previous = {
        "name": stored.name,
        "permissions": stored.permissions,
        "expires_at": str(stored.expires_at),
        "requests_per_minute": stored.requests_per_minute,
    }
    api_key.name = name
    api_key.permissions = _validate_permission_names(permissions)
    api_key.expires_at = expires_at
    api_key.requests_per_minute = requests_per_minute
    api_key.full_clean()
    api_key.save(update_fields=["name", "permissions", "expires_at", "requests_per_minute", "updated_at"])
    _forget_api_key(api_key)
    audit_record(
        actor=actor,
        action="api_key.update",
        organization=api_key.organization,
        target=api_key,
        detail={
            "before": previous,
            "after": {
                "name": name,
                "permissions": api_key.permissions,
                "expires_at": str(expires_at),
                "requests_per_minute": requests_per_minute,
            },
        },
    )
    return api_key


@transaction.atomic
def api_key_rotate(*, api_key: ApiKey, actor: Actor) -> str:
    """Gives the key a new secret (the old one stops working at once) and returns it."""
    secret = secrets.token_urlsafe(32)
    api_key.secret_sha256 = _sha256(secret)
    api_key.secret_md5_sha256 = _sha256(hashlib.md5(secret.encode()).hexdigest())
    api_key.save(update_fields=["secret_sha256", "secret_md5_sha256", "updated_at"])
    _forget_api_key(api_key)
    audit_record(actor=actor, action="api_key.rotate", organization=api_key.organization, target=api_key)
    return secret


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, actor: Actor) -> ApiKey:
    updated = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), updated_at=timezone.now()
    )
    if updated:
        audit_record(actor=actor, action="api_key.revoke", organization=api_key.organization, target=api_key)
    _forget_api_key(api_key)
    api_key.refresh_from_db(fields=["revoked_at", "updated_at"])
    return api_key


#
# The API-key cache. Each process remembers the keys it has read, with their organization, for
# OTPSITE_API_KEY_CACHE_SECONDS (default 5): a request with a remembered key runs no SQL to authenticate.
# The secret is still checked against the remembered digests on every request, and expiry against the
# clock. A key revoked, rotated, changed or deleted in this process is forgotten at once. The other
# processes learn of it on their next request with the key: the client-limits statement every API request
# runs also reads the key's `updated_at` (api_key_stamp_query), and a remembered key whose stamp moved is
# forgotten and authenticated again (api_key_still_current). Only where the limits are counted by a cache
# (Redis, memcached), with no statement to share, does a change take up to the lifetime to arrive. The
# organization's code settings are read with the key and reach each process within the lifetime; the
# limits that count (daily limit, cooldown) read the organization again under the lock.
#

_api_key_cache: dict[str, tuple[datetime, ApiKey]] = {}
_api_key_cache_lock = threading.Lock()


def api_key_cache_clear() -> None:
    with _api_key_cache_lock:
        _api_key_cache.clear()


def _forget_api_key(api_key: ApiKey) -> None:
    with _api_key_cache_lock:
        _api_key_cache.pop(api_key.key_id, None)


def api_key_stamp_query(key_id: str) -> tuple[str, list]:
    """A scalar query for the key's current `updated_at` (NULL once deleted), to ride along in a statement
    the request runs anyway."""
    table, updated_at, key_id_column = (
        connection.ops.quote_name(name) for name in (ApiKey._meta.db_table, "updated_at", "key_id")
    )
    return f"SELECT {updated_at} FROM {table} WHERE {key_id_column} = %s", [key_id]


def api_key_still_current(api_key: ApiKey, stamp) -> bool:
    """Whether the key this process authenticated with is the key as stored now (`stamp`: the value of
    api_key_stamp_query). A key that was rotated, revoked, changed or deleted since it was remembered is
    forgotten, so that authenticating again reads it afresh."""
    if stamp == api_key.updated_at:
        return True
    _forget_api_key(api_key)
    return False


def _api_key_lookup(key_id: str, now: datetime) -> tuple[ApiKey | None, bool]:
    """The key with this id, and whether it was remembered rather than read now."""
    lifetime = timedelta(seconds=settings.OTPSITE_API_KEY_CACHE_SECONDS)
    remembered = _api_key_cache.get(key_id)
    if remembered is not None and now < remembered[0] + lifetime:
        return remembered[1], True
    api_key = one_or_none(ApiKey.objects.select_related("organization").filter(key_id=key_id))
    if api_key is not None and lifetime:
        with _api_key_cache_lock:
            _api_key_cache[key_id] = (now, api_key)
    return api_key, False


def api_key_authenticate(*, key_id: str, secret: str, md5_of_secret: bool = False) -> ApiKey | None:
    """The usable key with this id and secret, or None. Compares digests in constant time.

    With `md5_of_secret`, `secret` is the MD5 hex of the secret, as Capillary clients send passwords. A
    wrong secret for a real key id, and any use of a revoked or expired key, is audited: someone holds
    that key id. Unknown key ids are not, so that noise cannot flood the audit trail. Keys are read through
    the per-process cache above."""
    if not key_id or not secret or len(key_id) != 16:
        return None
    now = timezone.now()
    api_key, remembered = _api_key_lookup(key_id, now)
    if api_key is None:
        return None
    offered = _sha256(secret.lower() if md5_of_secret else secret)
    if remembered and not hmac.compare_digest(_stored_digest(api_key, md5_of_secret), offered):
        # Perhaps rotated in another process since this one remembered it: the new secret must work at once.
        _forget_api_key(api_key)
        api_key, _ = _api_key_lookup(key_id, now)
        if api_key is None:
            return None
    if not hmac.compare_digest(_stored_digest(api_key, md5_of_secret), offered):
        reason = "wrong_secret"
    elif api_key.revoked_at is not None:
        reason = "revoked"
    elif not api_key.is_usable(now):
        reason = "expired"
    else:
        _touch_last_used(api_key, now)
        return api_key
    audit_record(
        actor=Actor(type=ActorType.API_KEY, api_key=api_key, label=f"API key {api_key.name} ({api_key.key_id})"),
        action="api_key.authenticate",
        organization=api_key.organization,
        target=api_key,
        outcome=Outcome.FAILURE,
        reason=reason,
    )
    return None


def _stored_digest(api_key: ApiKey, md5_of_secret: bool) -> str:
    return api_key.secret_md5_sha256 if md5_of_secret else api_key.secret_sha256


def _touch_last_used(api_key: ApiKey, now: datetime | None = None) -> None:
    """Writes last_used_at at most once per resolution: a conditional UPDATE, so that many processes
    touching the same key write it once between them."""
    now = now or timezone.now()
    stale = now - API_KEY_LAST_USED_RESOLUTION
    if api_key.last_used_at is None or api_key.last_used_at < stale:
        ApiKey.objects.filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=stale), pk=api_key.pk).update(
            last_used_at=now
        )
        api_key.last_used_at = now


#
# API keys as Capillary OAuth clients. Decided once: an API key doubles as the OAuth client, `key` being
# its key id and `secret` its secret, so staff manage one credential. The access token is a short-lived
# HS256 JWT naming the key; every use looks the key up again, so revoking, expiring or rotating the key
# stops its tokens at once.
#

OAUTH_TOKEN_ISSUER = "otpsite"
OAUTH_TOKEN_USE = "token_access"
# How much of the secret's digest a token carries, so that a rotated secret retires the tokens made with
# the old one. A prefix of a digest of 256 random bits reveals nothing usable.
_OAUTH_SECRET_PRINT = 16


class OAuthDisabled(Exception):
    """OTPSITE_CAPILLARY_OAUTH_JWT_KEY is empty: this server issues and accepts no OAuth tokens."""


@dataclass(frozen=True)
class OAuthToken:
    access_token: str
    ttl_seconds: int


def _oauth_signing_key() -> str:
    if not settings.OTPSITE_CAPILLARY_OAUTH_JWT_KEY:
        raise OAuthDisabled
    return settings.OTPSITE_CAPILLARY_OAUTH_JWT_KEY


def _key_actor(api_key: ApiKey, *, client_ip: str | None = None, request_id: str = "") -> Actor:
    return Actor(
        type=ActorType.API_KEY,
        api_key=api_key,
        label=f"API key {api_key.name} ({api_key.key_id})",
        client_ip=client_ip,
        request_id=request_id,
    )


def api_key_oauth_token_issue(
    *, key_id: str, secret: str, client_ip: str | None = None, request_id: str = ""
) -> OAuthToken | None:
    """An access token for the usable key with this id and secret, or None (failures are audited by
    api_key_authenticate). Raises OAuthDisabled when the server has no signing key."""
    signing_key = _oauth_signing_key()
    api_key = api_key_authenticate(key_id=key_id, secret=secret)
    if api_key is None:
        return None
    issued_at = int(timezone.now().timestamp())
    ttl = settings.OTPSITE_CAPILLARY_OAUTH_TTL_SECONDS
    token_id = secrets.token_urlsafe(16)
    claims = {
        "iss": OAUTH_TOKEN_ISSUER,
        "sub": api_key.key_id,
        "iat": issued_at,
        "exp": issued_at + ttl,
        "jti": token_id,
        "client_id": api_key.pk,
        "org_id": api_key.organization_id,
        "token_use": OAUTH_TOKEN_USE,
        "kfp": api_key.secret_sha256[:_OAUTH_SECRET_PRINT],
    }
    audit_record(
        actor=_key_actor(api_key, client_ip=client_ip, request_id=request_id),
        action="api_key.oauth_token",
        organization=api_key.organization,
        target=api_key,
        detail={"jti": token_id, "ttl_seconds": ttl},
    )
    return OAuthToken(access_token=jwt.encode(claims, signing_key, algorithm="HS256"), ttl_seconds=ttl)


def api_key_oauth_authenticate(*, token: str, client_ip: str | None = None, request_id: str = "") -> ApiKey | None:
    """The usable key an access token names, or None. A token this server did not sign is not audited
    (noise); one it signed but refuses (expired, key revoked, expired or rotated) is, with the reason.
    Expiry is judged against django.utils.timezone.now(), without leeway: the tokens are ours."""
    signing_key = _oauth_signing_key()
    try:
        claims = jwt.decode(
            token,
            signing_key,
            algorithms=["HS256"],
            issuer=OAUTH_TOKEN_ISSUER,
            options={"require": ["exp", "iat", "sub", "kfp", "token_use"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.InvalidTokenError:
        return None
    if claims["token_use"] != OAUTH_TOKEN_USE or not isinstance(claims["sub"], str):
        return None
    try:
        api_key = ApiKey.objects.select_related("organization").get(key_id=claims["sub"])
    except ApiKey.DoesNotExist:
        return None
    if not isinstance(claims["exp"], int) or claims["exp"] <= timezone.now().timestamp():
        reason = "oauth_token_expired"
    elif not hmac.compare_digest(str(claims["kfp"]), api_key.secret_sha256[:_OAUTH_SECRET_PRINT]):
        reason = "oauth_token_superseded"
    elif api_key.revoked_at is not None:
        reason = "revoked"
    elif not api_key.is_usable():
        reason = "expired"
    else:
        _touch_last_used(api_key)
        return api_key
    audit_record(
        actor=_key_actor(api_key, client_ip=client_ip, request_id=request_id),
        action="api_key.oauth_authenticate",
        organization=api_key.organization,
        target=api_key,
        outcome=Outcome.FAILURE,
        reason=reason,
        detail={"jti": claims.get("jti", "")},
    )
    return None
