"""`/healthz` and `/readyz`: what a load balancer and an orchestrator ask.

`/healthz` says the process serves requests and touches nothing else, so a database outage does not get
every web process restarted. `/readyz` says whether this node can do its work: the database answers, every
migration is applied, a delivery worker has beaten within OTPSITE_WORKER_STALE_SECONDS, and the encryption
and HMAC keys load; it reports the delivery queue's depth, and answers 503 when any check fails.

These are plain views rather than django-health-check's: its checks run in threads of their own (each with
its own database connection), and both answers here must stay small, sync and cheap to probe every second.
"""

import time
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_tasks_db.models import DBTaskResult

from credentials import crypto
from credentials.models import DeliveryWorker
from credentials.services import hmac_key

_migrations_applied = False  # once true in a process it stays true: nothing un-applies migrations while serving


@never_cache
@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


def _database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {"ok": True}


def _migrations() -> dict:
    global _migrations_applied
    if not _migrations_applied:
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if pending:
            return {"ok": False, "pending": len(pending)}
        _migrations_applied = True
    return {"ok": True}


def _worker() -> dict:
    stale = timedelta(seconds=settings.OTPSITE_WORKER_STALE_SECONDS)
    last_seen = (
        DeliveryWorker.objects.filter(last_seen_at__gte=timezone.now() - stale)
        .order_by("-last_seen_at")
        .values_list("last_seen_at", flat=True)[:1]
    )
    if not last_seen:
        return {"ok": False, "error": f"no delivery worker seen in the last {stale.seconds} s"}
    return {"ok": True, "last_seen_seconds_ago": round((timezone.now() - last_seen[0]).total_seconds(), 1)}


def queue_depth() -> int:
    """Tasks waiting to run now (the partial index on ready tasks serves this count)."""
    return DBTaskResult.objects.ready().count()


def _queue() -> dict:
    return {"ok": True, "depth": queue_depth()}


def _keys() -> dict:
    probe = crypto.seal("readiness", associated_data="readyz")
    crypto.unseal(probe, associated_data="readyz")
    hmac_key()
    return {"ok": True, "current_key_id": crypto.current_key_id()}


CHECKS = {"database": _database, "migrations": _migrations, "worker": _worker, "queue": _queue, "keys": _keys}


@never_cache
@require_GET
def readyz(request):
    results = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            results[name] = check()
        except DatabaseError:
            results[name] = {"ok": False, "error": "the database did not answer"}
        except Exception as error:  # a check that cannot run is a failed check, with its reason
            results[name] = {"ok": False, "error": f"{type(error).__name__}: {error}"[:200]}
        results[name]["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
    ready = all(result["ok"] for result in results.values())
    response = JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": results}, status=200 if ready else 503
    )
    if not ready:
        response["Retry-After"] = str(settings.OTPSITE_UNAVAILABLE_RETRY_AFTER)  # as every 503 of the site
    return response
