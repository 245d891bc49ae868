"""Work done after the response: the store page hands code delivery here so that its answer takes the same
time whether or not the email has access (delivery, and even the lookup, happen off the request path).

OTPSITE_BACKGROUND_TASKS is `thread` (a small pool in the serving process) or `inline` (run at once, in
the request: tests and single-threaded debugging)."""

import logging
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import connections

logger = logging.getLogger(__name__)
_executor: ThreadPoolExecutor | None = None


def _run(task) -> None:
    try:
        task()
    except Exception:
        logger.exception("Background task %s failed", getattr(task, "__name__", task))
    finally:
        if settings.OTPSITE_BACKGROUND_TASKS == "thread":
            connections.close_all()


def run_in_background(task) -> None:
    global _executor
    if settings.OTPSITE_BACKGROUND_TASKS == "inline":
        _run(task)
        return
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="otpsite-background")
    _executor.submit(_run, task)
