"""Telling OTP users about a new build (Applivery's notifications.newBuildNotifyOtpUsers).

otpusers sends new_build_published after the commit that stored the build; this module queues one task
(credentials/tasks.py), off the admin's request, and the delivery worker emails exactly the people who
could download it: those with access to the application, active, with an email address and downloads left.
"""

from django.db.models import F, Q

from credentials import delivery, observability, tasks
from otpusers.audit import Actor, audit_record
from otpusers.choices import Outcome
from otpusers.models import UNLIMITED_DOWNLOADS, AppAccess, PublishedApplication
from otpusers.signals import new_build_published

BATCH_SIZE = 500


def accesses_to_notify(published_application_id: int):
    """The accesses whose people may download the application now, in a stable order."""
    return (
        AppAccess.objects.filter(published_application_id=published_application_id, otp_user__is_valid=True)
        .filter(Q(allowed_downloads_num=UNLIMITED_DOWNLOADS) | Q(downloads_used__lt=F("allowed_downloads_num")))
        .exclude(otp_user__email="")
        .select_related("otp_user")
        .order_by("id")
    )


def notify_new_build(*, published_application_id: int, store_page_url: str, actor: Actor) -> int:
    """Emails each person to notify; returns how many were sent. A failed email is audited and the rest
    still go out."""
    application = PublishedApplication.objects.select_related("store__organization").get(pk=published_application_id)
    organization = application.store.organization
    sent = failed = 0
    for access in accesses_to_notify(published_application_id).iterator(chunk_size=BATCH_SIZE):
        try:
            delivery.send_new_build_email(
                to=access.otp_user.email,
                application_name=application.name,
                store_page_url=store_page_url,
                downloads_left=access.downloads_left,
            )
            sent += 1
        except delivery.DeliveryError as error:
            failed += 1
            audit_record(
                actor=actor,
                action="published_application.notify_new_build",
                organization=organization,
                target=access,
                outcome=Outcome.FAILURE,
                reason="delivery_failed",
                detail={"error": str(error)[:500]},
            )
    audit_record(
        actor=actor,
        action="published_application.notify_new_build",
        organization=organization,
        target=application,
        detail={"sent": sent, "failed": failed},
    )
    return sent


def _on_new_build(sender, *, published_application, store_page_url: str, actor: Actor, **kwargs) -> None:
    tasks.notify_new_build.enqueue(
        published_application_id=published_application.pk,
        store_page_url=store_page_url,
        actor=tasks.actor_payload(actor),
        context=observability.task_context(request_id=actor.request_id),
    )


def connect() -> None:
    new_build_published.connect(_on_new_build, dispatch_uid="credentials.notify_new_build")
