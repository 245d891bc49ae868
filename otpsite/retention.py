"""Removing what is past its retention period: issued codes (with their delivery attempts), new-build emails,
finished tasks, audit events. In small batches, each its own short transaction that skips rows another
transaction holds, so that pruning can run while the site serves.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from credentials.choices import NewBuildEmailStatus
from credentials.models import IssuedCode, NewBuildEmail
from otpsite.models import RateLimitCounter
from otpusers.models import AuditEvent


@dataclass(frozen=True)
class Retained:
    name: str
    days: int
    expired: Callable[[object], QuerySet]  # given the cutoff, the rows to remove, oldest first


def retention() -> list[Retained]:
    return [
        Retained(
            "issued codes",
            settings.OTPSITE_RETENTION_CODES_DAYS,
            # Only codes that can no longer be used, whatever their age.
            lambda cutoff: IssuedCode.objects.filter(created_at__lt=cutoff, valid_until__lt=timezone.now()).order_by(
                "created_at", "id"
            ),
        ),
        Retained(
            "new-build emails",
            settings.OTPSITE_RETENTION_CODES_DAYS,
            # Only those decided (a queued or retried one is still the worker's).
            lambda cutoff: NewBuildEmail.objects.filter(
                created_at__lt=cutoff, status__in=[NewBuildEmailStatus.SENT, NewBuildEmailStatus.FAILED]
            ).order_by("created_at", "id"),
        ),
        Retained(
            "finished tasks",
            settings.OTPSITE_RETENTION_TASKS_DAYS,
            lambda cutoff: DBTaskResult.objects.filter(
                status__in=[TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED], finished_at__lt=cutoff
            ).order_by("finished_at"),
        ),
        Retained(
            "audit events",
            settings.OTPSITE_RETENTION_AUDIT_DAYS,
            lambda cutoff: AuditEvent.objects.filter(created_at__lt=cutoff).order_by("created_at", "id"),
        ),
        # Client-limit counters are of no use once their window has ended (kept out of the request path,
        # where an occasional sweep would make one request in many slower and its statement count random).
        Retained(
            "ended rate-limit windows",
            0,
            lambda cutoff: RateLimitCounter.objects.filter(expires_at__lte=cutoff).order_by("expires_at"),
        ),
    ]


def prune(kind: Retained, *, batch_size: int, progress: Callable[[str, int], None]) -> int:
    """Deletes `kind`'s expired rows in batches; calls `progress(name, total so far)` after each batch."""
    cutoff = timezone.now() - timedelta(days=kind.days)
    total = 0
    while True:
        with transaction.atomic():
            expired = kind.expired(cutoff)
            batch = list(expired.select_for_update(skip_locked=True).values_list("pk", flat=True)[:batch_size])
            if batch:
                expired.model.objects.filter(pk__in=batch).delete()
        total += len(batch)
        if batch:
            progress(kind.name, total)
        if len(batch) < batch_size:
            return total
