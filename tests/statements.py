"""Counting the SQL statements a request runs, transaction control left out (BEGIN, COMMIT, ROLLBACK and
savepoints: what they cost depends on the connection's mode, not on the code under test)."""

import re
from contextlib import contextmanager

from django.db import connection
from django.test.utils import CaptureQueriesContext

TRANSACTION_CONTROL = re.compile(
    r"^\s*(BEGIN|START\s+TRANSACTION|COMMIT|ROLLBACK|SAVEPOINT|RELEASE\s+SAVEPOINT)\b", re.IGNORECASE
)


# The client limits' one statement per API request (otpsite/limits.py: the API key's request counted and the
# address's failed authentications read, or a failure counted) when the counters live in the database; none
# when they live in Redis or memcached. Pinned on its own (CLIENT_LIMIT_BUDGET), apart from the endpoint's work.
CLIENT_LIMIT = re.compile(r'"otpsite_ratelimitcounter"')
CLIENT_LIMIT_BUDGET = 1


def counted(captured: CaptureQueriesContext) -> list[str]:
    """The statements the endpoint itself runs: neither transaction control nor the client limits'."""
    return [
        query["sql"]
        for query in captured.captured_queries
        if not TRANSACTION_CONTROL.match(query["sql"]) and not CLIENT_LIMIT.search(query["sql"])
    ]


def client_limit_statements(captured: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in captured.captured_queries if CLIENT_LIMIT.search(query["sql"])]


@contextmanager
def at_most(budget: int, what: str = "the request"):
    """Fails when the block runs more than `budget` statements, or more than CLIENT_LIMIT_BUDGET for the
    client limits, listing them."""
    with CaptureQueriesContext(connection) as captured:
        yield captured
    statements = counted(captured)
    assert len(statements) <= budget, f"{what}: {len(statements)} statements, budget {budget}:\n" + "\n".join(
        statements
    )
    limited = client_limit_statements(captured)
    assert len(limited) <= CLIENT_LIMIT_BUDGET, f"{what}: {len(limited)} client-limit statements:\n" + "\n".join(
        limited
    )


def assert_budgets(*, what: str, prepare, request, cold: int, warm: int, clear_cache, expect=(200,)) -> None:
    """Runs `request(prepare())` with an empty API-key cache, then again with the key remembered, each within
    its budget. `prepare` (not counted) makes what one request needs, e.g. a fresh code to validate."""
    for temperature, budget in (("cold", cold), ("warm", warm)):
        argument = prepare()
        if temperature == "cold":
            clear_cache()
        with at_most(budget, f"{what}, {temperature} API-key cache"):
            response = request(argument)
        assert response.status_code in expect, (response.status_code, getattr(response, "content", b"")[:500])


def recently_used(api_key) -> None:
    """Marks the key as used now, as a key in service is: its first use in a minute writes last_used_at (one
    UPDATE, counted separately by the tests that pin it)."""
    from django.utils import timezone

    from otpusers.models import ApiKey

    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=timezone.now())
