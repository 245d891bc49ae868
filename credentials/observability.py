"""What operators see of the credential flows: the context every log line carries, and the counters of
`/metrics`.

The log context (request id, surface, organization, actor) lives in structlog's context variables: the
request middleware binds it, the delivery worker binds the one its task was enqueued with, and every log
record, from structlog or the standard library, is stamped with it (otpsite/logging.py).

The counters are prometheus_client's; under gunicorn they run in multiprocess mode (PROMETHEUS_MULTIPROC_DIR,
see otpsite/metrics.py), so each worker process writes its own file and `/metrics` adds them up. Label values
come from small closed sets (surfaces, scopes, channels, outcomes), never from callers' input.
"""

from contextlib import contextmanager

import structlog
from prometheus_client import Counter

CONTEXT_KEYS = ("request_id", "surface", "organization", "actor")

CODES_ISSUED = Counter(
    "otpsite_codes_issued", "Codes issued (or re-sent) to a person.", ["surface", "scope", "channel"]
)
CODE_VERIFICATIONS = Counter("otpsite_code_verifications", "Codes checked, by outcome.", ["surface", "outcome"])
DELIVERIES = Counter("otpsite_deliveries", "Tries at handing a code to a provider.", ["channel", "outcome"])
CARD_LOGINS = Counter("otpsite_card_logins", "OTP card logins, by outcome.", ["outcome"])


def context() -> dict:
    return {key: value for key, value in structlog.contextvars.get_contextvars().items() if key in CONTEXT_KEYS}


def bind(**values) -> None:
    structlog.contextvars.bind_contextvars(**{key: value for key, value in values.items() if value not in (None, "")})


@contextmanager
def bound(**values):
    """Binds `values` for the duration of the block (a task run), restoring what was bound before."""
    with structlog.contextvars.bound_contextvars(
        **{key: value for key, value in values.items() if key in CONTEXT_KEYS and value not in (None, "")}
    ):
        yield


def surface() -> str:
    return context().get("surface") or "internal"


def task_context(**values) -> dict:
    """The log context a task carries to the worker: the current one, completed by `values`."""
    current = context()
    current.update({key: value for key, value in values.items() if value not in (None, "")})
    return current
