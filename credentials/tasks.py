"""The delivery tasks the worker runs (`manage.py db_worker`), through Django's Tasks API on the project's
own database (django-tasks + django-tasks-db).

Issuing a code enqueues `deliver_code` in the issuing transaction, so the task exists exactly when the code
does. The worker sends to each destination, records every try as a DeliveryAttempt (outcome, provider
answer, duration), retries transient failures after OTPSITE_DELIVERY_RETRY_DELAYS, and marks the code
failed, audited, when a channel fails for good.

A task is safe to run twice (a worker killed mid-task has its task taken back by the next worker, see
credentials/worker.py): a try already decided is not repeated, and a try the dead worker had begun is sent
again under the same idempotency key (the `Idempotency-Key` header of the SMS webhook, the Message-ID of the
email), so a provider that honours it delivers the code once.

The code travels in the task's arguments only sealed (AES-GCM, bound to the code's public id).
"""

import logging
import time
import uuid
from dataclasses import asdict
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django_tasks import task

from credentials import crypto, delivery, observability
from credentials.choices import AttemptOutcome, DeliveryStatus
from credentials.models import DeliveryAttempt, IssuedCode
from otpusers.audit import Actor, audit_record
from otpusers.choices import ActorType, Outcome

logger = logging.getLogger(__name__)


def _associated_data(issued: IssuedCode) -> str:
    return f"delivery:{issued.public_id}"


def enqueue_delivery(
    *, issued: IssuedCode, plaintext: str, destinations: list, templates: delivery.Templates, actor: Actor
) -> None:
    """Queues the sending of `plaintext` to each destination: one INSERT, inside the caller's transaction."""
    deliver_code.enqueue(
        code_id=issued.pk,
        send_id=str(uuid.uuid4()),
        sealed=crypto.seal(plaintext, associated_data=_associated_data(issued)),
        destinations=[[destination.channel, destination.address] for destination in destinations],
        templates=asdict(templates),
        number=1,
        context=observability.task_context(request_id=actor.request_id, organization=issued.organization_id),
    )


def retry_delays() -> list[int]:
    return list(settings.OTPSITE_DELIVERY_RETRY_DELAYS)


@task()
def deliver_code(
    *,
    code_id: int,
    send_id: str,
    sealed: str,
    destinations: list[list[str]],
    templates: dict,
    number: int,
    context: dict,
) -> dict:
    with observability.bound(**context):
        try:
            issued = IssuedCode.objects.select_related("organization").get(pk=code_id)
        except IssuedCode.DoesNotExist:
            return {"skipped": "the code no longer exists"}
        try:
            plaintext = crypto.unseal(sealed, associated_data=_associated_data(issued))
        except crypto.DecryptionError as error:
            # Its key was dropped before the task ran: nothing can be sent, and staff must see it.
            return _key_gone(
                issued=issued, send_id=send_id, destinations=destinations, number=number, error=error, context=context
            )
        valid_minutes = max(round((issued.valid_until - timezone.now()).total_seconds() / 60), 1)
        outcomes = {}
        for channel, address in destinations:
            outcomes[channel] = _try_channel(
                issued=issued,
                send_id=send_id,
                channel=channel,
                address=address,
                number=number,
                plaintext=plaintext,
                message={"templates": delivery.Templates(**templates), "valid_minutes": valid_minutes},
                retry={"sealed": sealed, "templates": templates, "context": context},
            )
        return outcomes


def _try_channel(*, issued, send_id, channel, address, number, plaintext, message, retry) -> str:
    with transaction.atomic():
        previous = list(
            DeliveryAttempt.objects.select_for_update()
            .filter(send_id=send_id, channel=channel, number=number)
            .exclude(outcome=AttemptOutcome.INTERRUPTED)
        )
        if previous and previous[0].outcome != AttemptOutcome.SENDING:
            return previous[0].outcome  # decided before a crash; the retry, if any, was queued with it
        if previous:
            previous[0].outcome = AttemptOutcome.INTERRUPTED
            previous[0].save(update_fields=["outcome"])
        attempt = DeliveryAttempt.objects.create(
            issued_code=issued, send_id=send_id, channel=channel, number=number, outcome=AttemptOutcome.SENDING
        )

    started = time.perf_counter()
    try:
        answer = delivery.send(
            channel,
            to=address,
            code=plaintext,
            scope=issued.scope,
            valid_minutes=message["valid_minutes"],
            templates=message["templates"],
            key=f"{send_id}-{channel}",
        )
        outcome = AttemptOutcome.SENT
    except Exception as error:  # a backend's own failure, or a fault in one: either way this try failed
        if not isinstance(error, delivery.DeliveryError):
            logger.exception("The %s backend failed unexpectedly", channel)
        answer = str(error) if isinstance(error, delivery.DeliveryError) else f"{type(error).__name__}: {error}"
        permanent = getattr(error, "permanent", False)
        outcome = AttemptOutcome.FAILED if permanent or number > len(retry_delays()) else AttemptOutcome.RETRY
    # A gateway that echoes the message must not put the code into the database or the logs.
    answer = answer.replace(plaintext, "[code]")[:500]
    attempt.duration_ms = round((time.perf_counter() - started) * 1000)
    attempt.outcome, attempt.provider_answer = outcome, answer

    with transaction.atomic():
        attempt.save(update_fields=["outcome", "provider_answer", "duration_ms"])
        if outcome == AttemptOutcome.RETRY:
            deliver_code.using(run_after=timezone.now() + timedelta(seconds=retry_delays()[number - 1])).enqueue(
                code_id=issued.pk,
                send_id=send_id,
                sealed=retry["sealed"],
                destinations=[[channel, address]],
                templates=retry["templates"],
                number=number + 1,
                context=retry["context"],
            )
        _record_on_code(issued, send_id, channel, outcome, answer, retry["context"])
    observability.DELIVERIES.labels(channel=channel, outcome=outcome).inc()
    logger.log(
        logging.INFO if outcome == AttemptOutcome.SENT else logging.WARNING,
        "delivery %s",
        outcome,
        extra={
            "code_id": issued.public_id,
            "channel": channel,
            "try": number,
            "duration_ms": attempt.duration_ms,
            "provider_answer": answer,
        },
    )
    return outcome


def _key_gone(*, issued, send_id, destinations, number, error, context) -> dict:
    """Each channel's try fails for good, recorded and audited as any failed try is, saying why: the key the
    code was sealed with when it was queued is no longer in OTPSITE_ENCRYPTION_KEYS (dropped before the
    queue was worked off). Once per channel, however often the task runs."""
    answer = f"Not sent: the queued code cannot be read. {error}"[:500]
    outcomes = {}
    for channel, _ in destinations:
        with transaction.atomic():
            previous = list(
                DeliveryAttempt.objects.select_for_update()
                .filter(send_id=send_id, channel=channel, number=number)
                .exclude(outcome=AttemptOutcome.INTERRUPTED)
            )
            decided = bool(previous) and previous[0].outcome != AttemptOutcome.SENDING
            if previous and not decided:
                previous[0].outcome = AttemptOutcome.INTERRUPTED
                previous[0].save(update_fields=["outcome"])
            if not decided:
                DeliveryAttempt.objects.create(
                    issued_code=issued,
                    send_id=send_id,
                    channel=channel,
                    number=number,
                    outcome=AttemptOutcome.FAILED,
                    provider_answer=answer,
                    duration_ms=0,
                )
                _record_on_code(issued, send_id, channel, AttemptOutcome.FAILED, answer, context)
        if not decided:
            observability.DELIVERIES.labels(channel=channel, outcome=AttemptOutcome.FAILED).inc()
            logger.error(
                "delivery %s",
                AttemptOutcome.FAILED,
                extra={"code_id": issued.public_id, "channel": channel, "try": number, "provider_answer": answer},
            )
        outcomes[channel] = AttemptOutcome.FAILED
    return outcomes


def _record_on_code(issued, send_id, channel, outcome, answer, context) -> None:
    codes = IssuedCode.objects.filter(pk=issued.pk)
    if outcome == AttemptOutcome.SENT:
        # Sent, unless another channel of the same send has failed for good.
        failed_channel = DeliveryAttempt.objects.filter(
            issued_code=OuterRef("pk"), send_id=send_id, outcome=AttemptOutcome.FAILED
        )
        codes.filter(~Exists(failed_channel)).update(delivery_status=DeliveryStatus.SENT, delivery_error="")
    elif outcome == AttemptOutcome.RETRY:
        codes.update(delivery_error=f"{channel}: {answer}"[:500])
    else:
        codes.update(delivery_status=DeliveryStatus.FAILED, delivery_error=f"{channel}: {answer}"[:500])
        audit_record(
            actor=Actor(type=ActorType.SYSTEM, label="delivery worker", request_id=context.get("request_id", "")),
            action="code.deliver",
            organization=issued.organization,
            target=issued,
            outcome=Outcome.FAILURE,
            reason="delivery_failed",
            detail={"channel": channel, "error": answer},
        )


def actor_payload(actor: Actor) -> dict:
    """An actor as a task argument (JSON): the key and user by id, read back when the task runs."""
    return {
        "type": actor.type,
        "label": actor.label,
        "client_ip": actor.client_ip,
        "request_id": actor.request_id,
        "api_key_id": actor.api_key.pk if actor.api_key is not None else None,
        "user_id": getattr(actor.user, "pk", None),
    }


def actor_from(payload: dict) -> Actor:
    from django.contrib.auth import get_user_model

    from otpusers.models import ApiKey

    def by_id(model, pk):
        return model.objects.filter(pk=pk).get() if pk and model.objects.filter(pk=pk).exists() else None

    api_key, user = by_id(ApiKey, payload.get("api_key_id")), by_id(get_user_model(), payload.get("user_id"))
    return Actor(
        type=ActorType(payload["type"]),
        api_key=api_key,
        user=user,
        label=payload["label"],
        client_ip=payload["client_ip"],
        request_id=payload["request_id"],
    )


@task()
def send_store_code(*, published_application_id: int, email: str, actor: dict, context: dict) -> None:
    """The store page's request, worked off the request path so that its answer takes the same time
    whether or not the email has access (see credentials/services/store_sign_in.py)."""
    from credentials.services.store_sign_in import store_code_send

    with observability.bound(**context):
        store_code_send(published_application_id=published_application_id, email=email, actor=actor_from(actor))


@task()
def notify_new_build(
    *, published_application_id: int, store_page_url: str, actor: dict, context: dict, send_id: str
) -> int:
    """Emails the people who may download a new build (see credentials/notifications.py)."""
    from credentials import notifications

    with observability.bound(**context):
        return notifications.notify_new_build(
            published_application_id=published_application_id,
            store_page_url=store_page_url,
            actor=actor_from(actor),
            send_id=send_id,
        )


@task()
def retry_new_build_email(*, email_id: int, number: int, store_page_url: str, actor: dict, context: dict) -> str:
    """Another try at one person's new-build email, after a transient failure."""
    from credentials import notifications

    with observability.bound(**context):
        return notifications.new_build_email_send(
            email_id=email_id, number=number, store_page_url=store_page_url, actor=actor_from(actor)
        )
