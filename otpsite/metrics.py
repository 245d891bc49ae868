"""`/metrics` in Prometheus' text format, and the HTTP and database metrics the middleware records.

Under gunicorn every worker process counts for itself: with PROMETHEUS_MULTIPROC_DIR set (deploy/ sets it,
and gunicorn's config marks dead workers' files), prometheus_client writes each process's values to files
in that folder and this view adds them up, so any worker answers for all of them. The queue depth is read
from the database at scrape time. Access: a bearer token (OTPSITE_METRICS_TOKEN) or a client IP in
OTPSITE_METRICS_ALLOWED_IPS (addresses or networks); with neither set, only loopback callers in DEBUG.
"""

import hmac
import ipaddress
import os
import time

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpResponse, HttpResponseForbidden
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

HTTP_REQUESTS = Counter("otpsite_http_requests", "HTTP requests answered.", ["method", "route", "status"])
HTTP_DURATION = Histogram(
    "otpsite_http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 5, 10),
)
DB_QUERIES = Counter("otpsite_db_queries", "SQL statements run while answering requests.", ["route"])
DB_DURATION = Histogram(
    "otpsite_db_query_duration_seconds",
    "Time of one SQL statement run while answering a request.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1),
)


KNOWN_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


class QueueDepthCollector:
    def collect(self):
        from otpsite.health import queue_depth

        gauge = GaugeMetricFamily("otpsite_delivery_queue_depth", "Delivery tasks waiting to run now.")
        try:
            gauge.add_metric([], queue_depth())
        except DatabaseError:
            return
        yield gauge


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        registry.register(_Delegate(REGISTRY))
    registry.register(QueueDepthCollector())
    return registry


class _Delegate:
    """The process's own metrics, inside a registry made per scrape."""

    def __init__(self, source):
        self.source = source

    def collect(self):
        return self.source.collect()


def _allowed(request) -> bool:
    token = settings.OTPSITE_METRICS_TOKEN
    if token:
        offered = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if hmac.compare_digest(offered.encode(), token.encode()):
            return True
    try:
        client = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if settings.OTPSITE_METRICS_ALLOWED_IPS:
        return any(client in ipaddress.ip_network(network) for network in settings.OTPSITE_METRICS_ALLOWED_IPS)
    return settings.DEBUG and not token and client.is_loopback


@never_cache
@require_GET
def metrics(request):
    if not _allowed(request):
        return HttpResponseForbidden("Metrics need the bearer token or an allowed client address.\n")
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)


def route_of(request) -> str:
    match = getattr(request, "resolver_match", None)
    return match.route if match is not None and match.route else "unmatched"


class RequestMetrics:
    """Counts and times each request and the SQL statements it runs, by route pattern (a closed set)."""

    def __init__(self):
        self.statements = 0

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.statements += 1
            DB_DURATION.observe(time.perf_counter() - started)

    def record(self, request, response, duration: float) -> None:
        route = route_of(request)
        method = request.method if request.method in KNOWN_METHODS else "other"
        HTTP_REQUESTS.labels(method=method, route=route, status=response.status_code).inc()
        HTTP_DURATION.labels(method=method, route=route).observe(duration)
        if self.statements:
            DB_QUERIES.labels(route=route).inc(self.statements)


def observe_database(metrics: RequestMetrics):
    return connection.execute_wrapper(metrics)
