"""Who did something, and the record of what they did."""

from dataclasses import dataclass

from django.db import connection, models

from otpusers.choices import ActorType, Outcome
from otpusers.models import ApiKey, AuditEvent, Organization
from otpusers.prepared import PreparedInsert

# Every audited request writes one event: its INSERT is composed once per process (see PreparedInsert).
AUDIT_INSERT = PreparedInsert(AuditEvent)


@dataclass(frozen=True)
class Actor:
    """The caller behind a service call: an API key, a staff user, a person on the store page, or the
    system itself (management commands, demo data)."""

    type: ActorType
    api_key: ApiKey | None = None
    user: object | None = None
    label: str = ""
    client_ip: str | None = None
    request_id: str = ""

    @classmethod
    def system(cls, label: str = "system") -> "Actor":
        return cls(type=ActorType.SYSTEM, label=label)

    @classmethod
    def from_request(cls, request) -> "Actor":
        """The actor of an API request (DRF) or an admin request (Django). `client_ip` is the address
        otpsite.middleware.ClientIpMiddleware worked out (X-Forwarded-For only from trusted proxies)."""
        client_ip = getattr(request, "client_ip", None)
        request_id = getattr(request, "request_id", "")
        api_key = getattr(request, "auth", None)
        if isinstance(api_key, ApiKey):
            return cls(
                type=ActorType.API_KEY,
                api_key=api_key,
                label=f"API key {api_key.name} ({api_key.key_id})",
                client_ip=client_ip,
                request_id=request_id,
            )
        user = request.user
        return cls(
            type=ActorType.STAFF,
            user=user,
            label=user.get_username(),
            client_ip=client_ip,
            request_id=request_id,
        )


def audit_object_key(target: models.Model) -> tuple[str, str]:
    """How an audit event names its object: the model name, and the public id where there is one."""
    return target._meta.model_name, str(getattr(target, "public_id", None) or getattr(target, "pk", "") or "")


def audit_record(
    *,
    actor: Actor,
    action: str,
    organization: Organization | None,
    target: models.Model | None = None,
    outcome: Outcome = Outcome.SUCCESS,
    reason: str = "",
    detail: dict | None = None,
) -> AuditEvent:
    """Writes one audit event: a single INSERT, composed once per process."""
    event = audit_event(
        actor=actor,
        action=action,
        organization=organization,
        target=target,
        outcome=outcome,
        reason=reason,
        detail=detail,
    )
    return AUDIT_INSERT.save(event)


def audited_update(
    *, event: AuditEvent, update: tuple[str, list], then: tuple[str, list] | None = None, only_if_updated: bool
) -> bool:
    """An UPDATE, a second UPDATE (`then`) that applies only when the first changed a row, and the audit event,
    as one statement (a data-modifying CTE: atomic on its own, no transaction to open and commit). With
    `only_if_updated`, nothing at all is written unless the first UPDATE changed a row (an optimistic write
    that found its row changed meanwhile); answers whether the event was written. PostgreSQL only. The
    UPDATEs are SQL and parameters ending in their WHERE clause, as PreparedUpdate.statement gives them."""
    update_sql, update_parameters = update
    parts, parameters = [f"changed AS ({update_sql} RETURNING 1)"], list(update_parameters)
    if then is not None:
        then_sql, then_parameters = then
        parts.append(f"followed AS ({then_sql} AND EXISTS (SELECT 1 FROM changed))")
        parameters += then_parameters
    # The condition is a parameter, so that the statement reads the same whatever was expected (timing).
    insert_sql, insert_parameters = AUDIT_INSERT.statement(
        event, only_if="CAST(%s AS boolean) OR EXISTS (SELECT 1 FROM changed)"
    )
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(parts)} {insert_sql}", [*parameters, *insert_parameters, not only_if_updated])
        row = cursor.fetchone()
    if row is None:
        return False
    event.pk = row[0]
    event._state.adding = False
    return True


def audited_insert(*, event: AuditEvent, insert: PreparedInsert, instance: models.Model) -> models.Model:
    """A new row (`insert`'s model) and the audit event of its making as one statement, the event's INSERT a
    CTE beside the row's. PostgreSQL only."""
    event_sql, event_parameters = AUDIT_INSERT.statement(event)
    row_sql, row_parameters = insert.statement(instance)
    with connection.cursor() as cursor:
        cursor.execute(f"WITH recorded AS ({event_sql}) {row_sql}", [*event_parameters, *row_parameters])
        returned = cursor.fetchone()
    return insert.saved(instance, returned)


def audit_event(
    *,
    actor: Actor,
    action: str,
    organization: Organization | None,
    target: models.Model | None = None,
    outcome: Outcome = Outcome.SUCCESS,
    reason: str = "",
    detail: dict | None = None,
) -> AuditEvent:
    """The audit event, not yet saved (for bulk_create)."""
    object_type, object_id = audit_object_key(target) if target is not None else ("", "")
    return AuditEvent(
        organization=organization,
        actor_type=actor.type,
        api_key=actor.api_key,
        user=actor.user,
        actor_label=actor.label[:200],
        action=action,
        object_type=object_type,
        object_id=object_id,
        outcome=outcome,
        reason=reason,
        detail=detail or {},
        client_ip=actor.client_ip,
        request_id=actor.request_id,
    )


def staff_sign_in_record(*, request, user=None, username: str = "", reason: str = "") -> AuditEvent:
    """A staff sign-in (`user` given) or a failed one (`reason` says why), from Django's auth signals."""
    username = user.get_username() if user is not None else username
    return audit_record(
        actor=Actor(
            type=ActorType.STAFF,
            user=user,
            label=username,
            client_ip=getattr(request, "client_ip", None),
            request_id=getattr(request, "request_id", ""),
        ),
        action="staff.sign_in",
        organization=None,
        target=user,
        outcome=Outcome.FAILURE if reason else Outcome.SUCCESS,
        reason=reason,
        detail={"username": username[:150]},
    )
