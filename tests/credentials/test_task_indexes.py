"""What otpsite asks of the task table at scale is served by an index (EXPLAIN on a seeded table)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from otpsite.retention import retention

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded_tasks():
    now = timezone.now()
    DBTaskResult.objects.bulk_create(
        DBTaskResult(
            args_kwargs={"args": [], "kwargs": {}},
            task_path="credentials.tasks.deliver_code",
            backend_name="default",
            run_after=now,
            status=TaskResultStatus.SUCCESSFUL if n % 100 else TaskResultStatus.READY,
            started_at=now,
            finished_at=now - timedelta(days=n % 30),
        )
        for n in range(5000)
    )
    DBTaskResult.objects.filter(pk__in=DBTaskResult.objects.ready().values("pk")[:3]).update(
        status=TaskResultStatus.RUNNING
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE django_tasks_database_dbtaskresult")


def test_the_heartbeat_finds_running_tasks_by_index(seeded_tasks):
    plan = DBTaskResult.objects.running().order_by("started_at").explain()
    assert "credentials_tasks_running" in plan, plan


def test_pruning_finds_finished_tasks_by_index(seeded_tasks):
    (tasks,) = [kind for kind in retention() if kind.name == "finished tasks"]
    plan = tasks.expired(timezone.now() - timedelta(days=7))[:1000].explain()
    assert "credentials_tasks_finished" in plan, plan


def test_the_queue_depth_counts_ready_tasks_by_index(seeded_tasks):
    plan = DBTaskResult.objects.ready().explain()
    assert "tasks_db_new_ordering_idx" in plan, plan
