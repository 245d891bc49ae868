from django.core import mail

from credentials import services
from credentials.choices import Channel, IdentifierType, Scope, Surface
from credentials.delivery import MemorySmsBackend
from otpusers.audit import Actor
from tests.delivery import run_worker
from tests.factories import OrganizationFactory, OtpUserFactory

ACTOR = Actor.system("tests")


def person_in(**organization_settings):
    organization = OrganizationFactory(**organization_settings)
    return OtpUserFactory(organization=organization, mobile=f"+4915{organization.pk:09d}")


def issue(person, scope=Scope.GENERIC, channel=Channel.SMS, surface=Surface.INTERNAL, **kwargs) -> services.IssueResult:
    return services.code_issue(
        organization=person.organization,
        identifier_type=IdentifierType.MOBILE,
        identifier_value=person.mobile,
        scope=scope,
        destinations=[services.Destination(channel, "")],
        actor=ACTOR,
        surface=surface,
        **kwargs,
    )


def last_sms_code() -> str:
    """The code in the last SMS sent, as the person would read it (after the worker has sent what is due)."""
    run_worker()
    return MemorySmsBackend.outbox[-1].body.split("code is ")[1].split(".")[0]


def last_email_code() -> str:
    run_worker()
    return mail.outbox[-1].body.split("\n")[2].strip()


def verify(person, code, scope=Scope.GENERIC, surface=Surface.INTERNAL):
    return services.code_verify(
        organization=person.organization,
        identifier_type=IdentifierType.MOBILE,
        identifier_value=person.mobile,
        scope=scope,
        code=code,
        actor=ACTOR,
        surface=surface,
    )
