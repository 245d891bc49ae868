"""Telling OTP users about a new build (Applivery's notifications.newBuildNotifyOtpUsers).

otpusers sends new_build_published after the commit that stored the build; this module queues one task
(credentials/tasks.py), off the admin's request, and the delivery worker emails exactly the people who
could download it: those with access to the application, active, with an email address and downloads left.

Each person's email is a NewBuildEmail row, decided once: the task first writes a row per person (a re-run
adds nobody twice), then sends each queued one. A transient failure is tried again after
OTPSITE_DELIVERY_RETRY_DELAYS, as codes are; a refusal, or the last failure, marks the row failed and is
audited. A worker killed mid-notification has its task taken back (credentials/worker.py): the people
already emailed are not emailed again, and the one whose send the worker had begun is sent the same message
again, under the same Message-ID, which mail systems recognise.
"""

import logging
import uuid
from datetime import timedelta

from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from credentials import delivery, observability, tasks
from credentials.choices import NewBuildEmailStatus
from credentials.models import NewBuildEmail
from otpusers.audit import Actor, audit_record
from otpusers.choices import Outcome
from otpusers.models import UNLIMITED_DOWNLOADS, AppAccess, PublishedApplication
from otpusers.signals import new_build_published

logger = logging.getLogger(__name__)
BATCH_SIZE = 500
ACTION = "published_application.notify_new_build"


def accesses_to_notify(published_application_id: int):
    """The accesses whose people may download the application now, in a stable order."""
    return (
        AppAccess.objects.filter(published_application_id=published_application_id, otp_user__is_valid=True)
        .filter(Q(allowed_downloads_num=UNLIMITED_DOWNLOADS) | Q(downloads_used__lt=F("allowed_downloads_num")))
        .exclude(otp_user__email="")
        .select_related("otp_user")
        .order_by("id")
    )


def notify_new_build(*, published_application_id: int, store_page_url: str, actor: Actor, send_id: str) -> int:
    """Emails each person to notify about the announcement `send_id`; returns how many this run sent. Safe to
    run again: see the module's docstring."""
    application = PublishedApplication.objects.select_related("store__organization").get(pk=published_application_id)
    organization = application.store.organization
    rows = []
    for access in accesses_to_notify(published_application_id).iterator(chunk_size=BATCH_SIZE):
        rows.append(
            NewBuildEmail(
                organization=organization,
                send_id=send_id,
                otp_user_id=access.otp_user_id,
                published_application=application,
                email=access.otp_user.email,
            )
        )
        if len(rows) == BATCH_SIZE:
            NewBuildEmail.objects.bulk_create(rows, ignore_conflicts=True)
            rows = []
    NewBuildEmail.objects.bulk_create(rows, ignore_conflicts=True)

    # The first try of each person not yet decided: queued, or begun by a worker that was killed.
    first_tries = NewBuildEmail.objects.filter(
        send_id=send_id, number=1, status__in=[NewBuildEmailStatus.QUEUED, NewBuildEmailStatus.SENDING]
    )
    sent = 0
    for email_id in list(first_tries.order_by("id").values_list("id", flat=True)):
        status = new_build_email_send(email_id=email_id, number=1, store_page_url=store_page_url, actor=actor)
        sent += status == NewBuildEmailStatus.SENT
    counts = dict(
        NewBuildEmail.objects.filter(send_id=send_id).values_list("status").annotate(count=Count("id")).order_by()
    )
    audit_record(
        actor=actor,
        action=ACTION,
        organization=organization,
        target=application,
        detail={
            "sent": counts.get(NewBuildEmailStatus.SENT, 0),
            "failed": counts.get(NewBuildEmailStatus.FAILED, 0),
            "retrying": counts.get(NewBuildEmailStatus.RETRY, 0),
        },
    )
    return sent


def new_build_email_send(*, email_id: int, number: int, store_page_url: str, actor: Actor) -> str:
    """Try `number` of one person's email; answers the row's status after it. Does nothing (answering the
    status) when that try has been decided already, so that a task run twice sends once."""
    with transaction.atomic():
        row = (
            NewBuildEmail.objects.select_for_update(of=("self",))
            .select_related("published_application", "organization")
            .get(pk=email_id)
        )
        due = (
            (row.status == NewBuildEmailStatus.QUEUED and number == 1)
            or (row.status == NewBuildEmailStatus.RETRY and row.number == number - 1)
            or (row.status == NewBuildEmailStatus.SENDING and row.number == number)
        )
        if not due:
            return row.status
        row.status, row.number, row.updated_at = NewBuildEmailStatus.SENDING, number, timezone.now()
        row.save(update_fields=["status", "number", "updated_at"])

    access = AppAccess.objects.filter(published_application=row.published_application, otp_user_id=row.otp_user_id)
    try:
        access = access.get()
    except AppAccess.DoesNotExist:
        access = None
    try:
        if access is None:
            raise delivery.DeliveryError(
                "Not sent: the person no longer has access to the application.", permanent=True
            )
        answer = delivery.send_new_build_email(
            to=row.email,
            application_name=row.published_application.name,
            store_page_url=store_page_url,
            downloads_left=access.downloads_left,
            key=f"{row.send_id}-{row.otp_user_id}",
        )
        status = NewBuildEmailStatus.SENT
    except Exception as error:  # the mail backend's own failure, or a fault in one: either way this try failed
        if not isinstance(error, delivery.DeliveryError):
            logger.exception("The email backend failed unexpectedly")
        answer = str(error) if isinstance(error, delivery.DeliveryError) else f"{type(error).__name__}: {error}"
        permanent = getattr(error, "permanent", False)
        last = permanent or number > len(tasks.retry_delays())
        status = NewBuildEmailStatus.FAILED if last else NewBuildEmailStatus.RETRY

    row.status, row.provider_answer, row.updated_at = status, answer[:500], timezone.now()
    with transaction.atomic():
        row.save(update_fields=["status", "provider_answer", "updated_at"])
        if status == NewBuildEmailStatus.RETRY:
            delay = timedelta(seconds=tasks.retry_delays()[number - 1])
            tasks.retry_new_build_email.using(run_after=timezone.now() + delay).enqueue(
                email_id=row.pk,
                number=number + 1,
                store_page_url=store_page_url,
                actor=tasks.actor_payload(actor),
                context=observability.task_context(request_id=actor.request_id, organization=row.organization_id),
            )
        elif status == NewBuildEmailStatus.FAILED:
            audit_record(
                actor=actor,
                action=ACTION,
                organization=row.organization,
                target=access or row.otp_user,
                outcome=Outcome.FAILURE,
                reason="delivery_failed",
                detail={"error": row.provider_answer, "tries": number},
            )
    return status


def _on_new_build(sender, *, published_application, store_page_url: str, actor: Actor, **kwargs) -> None:
    tasks.notify_new_build.enqueue(
        published_application_id=published_application.pk,
        store_page_url=store_page_url,
        actor=tasks.actor_payload(actor),
        context=observability.task_context(request_id=actor.request_id),
        send_id=str(uuid.uuid4()),
    )


def connect() -> None:
    new_build_published.connect(_on_new_build, dispatch_uid="credentials.notify_new_build")
