"""Who did something, and the record of what they did."""

from dataclasses import dataclass

from django.db import models

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
