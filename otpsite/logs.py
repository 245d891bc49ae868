"""Logging: one line per record, JSON in production and readable text in development (structlog's
ProcessorFormatter on the standard library's logging, so Django's, gunicorn's and our own records all pass
through it once).

Every line carries the context bound for the request or task (credentials/observability.py): request_id,
surface, organization, actor. Nothing logged may hold a code, a grid, a secret or an API key: the log
records name codes by their public id, and tests/test_logging.py checks every record the suite emits.
"""

import logging

import structlog

SHARED_PROCESSORS = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.stdlib.ExtraAdder(),
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def logging_config(*, json: bool, level: str) -> dict:
    """The LOGGING setting: every record goes to one stderr handler (no logger of Django's prints its own)."""
    renderer = (
        structlog.processors.JSONRenderer(sort_keys=False)
        if json
        else structlog.dev.ConsoleRenderer(colors=False, pad_event_to=40)
    )
    formatter = {
        "()": structlog.stdlib.ProcessorFormatter,
        "foreign_pre_chain": SHARED_PROCESSORS,
        "processors": [
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *([structlog.processors.format_exc_info] if json else []),
            renderer,
        ],
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"otpsite": formatter},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "otpsite"}},
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            # Django's own loggers would print a second copy through their handlers in DEBUG.
            "django": {"handlers": [], "level": level, "propagate": True},
            # runserver's access line would repeat the application's own `request` line.
            "django.server": {"handlers": [], "level": "ERROR", "propagate": True},
            # httpx logs each request's URL at INFO; a gateway URL may carry a token.
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
        },
    }


def configure_structlog() -> None:
    """For code that logs through structlog.get_logger(): the same processors, handed to the stdlib."""
    structlog.configure(
        processors=[*SHARED_PROCESSORS, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


request_logger = logging.getLogger("otpsite.request")
