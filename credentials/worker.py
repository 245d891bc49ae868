"""What the delivery worker adds to django-tasks-db's `db_worker`: a heartbeat, and taking back the tasks of
a worker that died mid-task.

django-tasks-db marks a task RUNNING when a worker claims it (`SELECT ... FOR UPDATE SKIP LOCKED`), and a
worker killed mid-task would leave it so for ever. Each worker therefore beats every
OTPSITE_WORKER_HEARTBEAT_SECONDS from a thread of its own (so a long send does not stop the beat), and at
each beat puts back to READY the running tasks of any worker not seen for OTPSITE_WORKER_STALE_SECONDS.
The tasks are written to be run twice (credentials/tasks.py). `/readyz` reads the same heartbeats.
"""

import logging
import os
import socket
import threading
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.utils import timezone
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from credentials.models import DeliveryWorker

logger = logging.getLogger(__name__)


def worker_beat(*, worker_id: str) -> None:
    DeliveryWorker.objects.update_or_create(
        worker_id=worker_id,
        defaults={"last_seen_at": timezone.now(), "hostname": socket.gethostname()[:255], "pid": os.getpid()},
    )


def tasks_take_back(*, stale_after: timedelta | None = None) -> int:
    """Puts the tasks of workers not seen for `stale_after` back in the queue; returns how many."""
    cutoff = timezone.now() - (stale_after or timedelta(seconds=settings.OTPSITE_WORKER_STALE_SECONDS))
    alive = set(DeliveryWorker.objects.filter(last_seen_at__gte=cutoff).values_list("worker_id", flat=True))
    taken = 0
    with transaction.atomic():
        for task in DBTaskResult.objects.running().select_for_update(skip_locked=True).order_by("started_at"):
            if task.worker_ids and task.worker_ids[-1] in alive:
                continue
            task.status, task.started_at = TaskResultStatus.READY, None
            task.save(update_fields=["status", "started_at"])
            logger.warning("Took back task %s of a worker that stopped mid-task", task.id)
            taken += 1
        DeliveryWorker.objects.filter(last_seen_at__lt=cutoff).delete()
    return taken


class Heartbeat(threading.Thread):
    def __init__(self, worker_id: str):
        super().__init__(name="otpsite-worker-heartbeat", daemon=True)
        self.worker_id = worker_id
        self.stopping = threading.Event()
        self.first_beat = threading.Event()

    def run(self) -> None:
        try:
            while True:
                try:
                    close_old_connections()
                    worker_beat(worker_id=self.worker_id)
                    tasks_take_back()
                except DatabaseError:
                    logger.exception("Worker heartbeat failed; trying again")
                self.first_beat.set()
                if self.stopping.wait(settings.OTPSITE_WORKER_HEARTBEAT_SECONDS):
                    break
            DeliveryWorker.objects.filter(worker_id=self.worker_id).delete()
        finally:
            connection.close()

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=10)
