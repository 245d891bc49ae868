"""Running the delivery worker in the test's own thread and transaction, on the real database backend:
django-tasks-db's worker loop in batch mode, which works every task that is due and stops."""

from collections.abc import Callable, Sequence
from unittest import mock

from django_tasks_db.management.commands import db_worker
from django_tasks_db.models import DBTaskResult

from credentials.choices import AttemptOutcome


def run_worker(worker_id: str = "tests") -> int:
    """Works every due task (and those they enqueue) and returns how many ran."""
    worker = db_worker.Worker(
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id=worker_id,
        excluded_queue_names=[],
    )
    # The worker closes "old" connections between tasks, which would close the test's transaction.
    with mock.patch.object(db_worker, "close_old_connections", lambda: None):
        worker.run()
    return worker._run_tasks


class DeliveredOutbox(Sequence):
    """An outbox (Django's mail.outbox, the memory SMS gateway's) read as the person sees it: reading it
    first lets the in-process worker send whatever is due, as `make run` would by then."""

    def __init__(self, messages: Callable[[], list]):
        self.messages = messages

    def _delivered(self) -> list:
        run_worker()
        return self.messages()

    def __getitem__(self, index):
        return self._delivered()[index]

    def __len__(self) -> int:
        return len(self._delivered())

    def __eq__(self, other) -> bool:
        return self._delivered() == list(other)

    def __repr__(self) -> str:
        return repr(self.messages())

    def clear(self) -> None:
        self.messages().clear()


def queued() -> int:
    return DBTaskResult.objects.ready().count()


__all__ = ["AttemptOutcome", "DeliveredOutbox", "queued", "run_worker"]
