"""Signing in to the store page with an emailed code.

Nothing the person sees, and nothing the request does, depends on whether the email has access: the
request queues one task whichever it is (one INSERT), and the delivery worker either issues a code (with
every issued-code limit, its email queued like every other send) or does a decoy of the same work and sends
nothing.
"""

from credentials import codes, observability, tasks
from credentials.choices import Channel, IdentifierType, Scope, Surface, VerifyOutcome
from credentials.services import issued_codes
from otpusers import services as otpuser_services
from otpusers.audit import Actor, audit_record
from otpusers.choices import Outcome
from otpusers.ids import new_object_id
from otpusers.models import AppAccess, OtpUser, PublishedApplication
from otpusers.prepared import PreparedLookup


def _access_query(shape, *, published_application_id: int, lowered: str):
    people = OtpUser.objects.filter(
        organization__stores__published_applications=published_application_id
    ).with_identifier("email", lowered, lowered=lowered)
    return AppAccess.objects.select_related("otp_user", "published_application__store__organization").filter(
        published_application_id=published_application_id, otp_user=people.as_one_id()
    )


# The access of the person an email names to an application (every store-page sign-in), compiled once.
ACCESS_BY_EMAIL = PreparedLookup(AppAccess, _access_query, published_application_id=int, lowered=str)


def _access_for(published_application_id: int, email: str) -> AppAccess | None:
    """The access of the person with this email (in the application's organization) to the application,
    in one query: the unique index on the email finds the person, the unique (application, person) index
    the access."""
    if not email:
        return None
    return ACCESS_BY_EMAIL.one_or_none(published_application_id=published_application_id, lowered=email.lower())


def store_code_send(*, published_application_id: int, email: str, actor: Actor) -> None:
    """The work behind `store_code_request`, run by the delivery worker."""
    access = _access_for(published_application_id, email)
    if access is None:
        application = PublishedApplication.objects.select_related("store__organization").get(
            pk=published_application_id
        )
        organization = application.store.organization
        decoy = codes.generate_code(organization.code_length, organization.code_alphabet)
        codes.code_digest(key=issued_codes.hmac_key(), salt=new_object_id(), code=decoy)
        audit_record(
            actor=actor,
            action="store.code_request",
            organization=organization,
            target=application,
            outcome=Outcome.FAILURE,
            reason="no_access",
        )
        return
    try:
        issued_codes.code_issue(
            organization=access.published_application.store.organization,
            identifier_type=IdentifierType.EMAIL,
            identifier_value=access.otp_user.email,
            scope=Scope.STORE_LOGIN,
            destinations=[issued_codes.Destination(Channel.EMAIL, access.otp_user.email)],
            actor=actor,
            surface=Surface.STORE,
        )
    except (issued_codes.IssueRefused, issued_codes.ChannelUnavailable, issued_codes.RecipientUnknown):
        pass  # audited by code_issue; the person sees the same page and can ask again after the cooldown


def store_code_request(*, published_application: PublishedApplication, email: str, actor: Actor) -> None:
    """Emails a sign-in code when the email has access to the application (through the task queue)."""
    tasks.send_store_code.enqueue(
        published_application_id=published_application.pk,
        email=email,
        actor=tasks.actor_payload(actor),
        context=observability.task_context(
            request_id=actor.request_id, organization=published_application.store.organization_id
        ),
    )


def store_code_verify(
    *, published_application: PublishedApplication, email: str, code: str, actor: Actor
) -> AppAccess | None:
    """The person's access to the application when the code is right (and their sign-in is recorded),
    else None, whatever the reason (audited)."""
    outcome = issued_codes.code_verify(
        organization=published_application.store.organization,
        identifier_type=IdentifierType.EMAIL,
        identifier_value=email,
        scope=Scope.STORE_LOGIN,
        code=code,
        actor=actor,
        surface=Surface.STORE,
    )
    if outcome != VerifyOutcome.SUCCESS:
        return None
    access = _access_for(published_application.pk, email)
    if access is None:
        audit_record(
            actor=actor,
            action="store.sign_in",
            organization=published_application.store.organization,
            target=published_application,
            outcome=Outcome.FAILURE,
            reason="no_access",
        )
        return None
    return otpuser_services.app_access_record_login(access=access, actor=actor)


__all__ = ["store_code_request", "store_code_send", "store_code_verify"]
