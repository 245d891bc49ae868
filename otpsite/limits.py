"""Client limits: how often one client (an address, an API key, an email typed on the store page) may do
something, shared by every worker and node.

Each limit is a fixed window of `seconds` allowing `count` events. Counting is one atomic increment: on the
database (the default, where Django's DatabaseCache would read then write) a RateLimitCounter row raised by
INSERT … ON CONFLICT DO UPDATE … RETURNING; on Redis or memcached (OTPSITE_RATE_LIMIT_CACHE naming such a
cache) the cache's own INCR. Domain limits (attempts per code, a person's daily limit, card lockout) are not
here: they live on the rows they count.
"""

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache
from django.db import connection
from django.db.models import F
from django.utils import timezone

from otpsite.models import RateLimitCounter
from otpusers.prepared import ReadAhead


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: int


class LimitExceeded(Exception):
    """A client limit is used up; `retry_after` is in whole seconds (when the window ends)."""

    def __init__(self, name: str, retry_after: int):
        super().__init__(f"{name}: retry in {retry_after} s")
        self.name = name
        self.retry_after = retry_after


def rates(setting: tuple[tuple[int, int], ...]) -> tuple[Rate, ...]:
    return tuple(Rate(count, seconds) for count, seconds in setting)


def _window(name: str, subject: str, rate: Rate) -> tuple[str, datetime]:
    now = timezone.now().timestamp()
    index = math.floor(now / rate.seconds)
    # Subjects (emails, addresses) are hashed: keys stay short and the counters hold no personal data.
    digest = hashlib.sha256(subject.lower().encode()).hexdigest()[:32]
    ends = datetime.fromtimestamp((index + 1) * rate.seconds, tz=UTC)
    return f"{name}:{rate.seconds}:{index}:{digest}", ends


def _retry_after(ends: datetime) -> int:
    return max(math.ceil((ends - timezone.now()).total_seconds()), 1)


def _cache():
    cache = caches[settings.OTPSITE_RATE_LIMIT_CACHE]
    return None if isinstance(cache, DatabaseCache) else cache


def _increment(key: str, ends: datetime) -> int:
    cache = _cache()
    if cache is not None:
        cache.add(key, 0, timeout=_retry_after(ends) + 1)
        try:
            return cache.incr(key)
        except ValueError:  # expired between add and incr: this hit opens the next count
            cache.add(key, 0, timeout=_retry_after(ends) + 1)
            return cache.incr(key)
    table, key_column, count_column, expires_column = (
        connection.ops.quote_name(name) for name in (RateLimitCounter._meta.db_table, "key", "count", "expires_at")
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({key_column}, {count_column}, {expires_column}) VALUES (%s, 1, %s) "
            f"ON CONFLICT ({key_column}) DO UPDATE SET {count_column} = {table}.{count_column} + 1 "
            f"RETURNING {count_column}",
            [key, connection.ops.adapt_datetimefield_value(ends)],
        )
        return cursor.fetchone()[0]


def _increment_many(windows: list[tuple[str, datetime]]) -> dict[str, int]:
    """_increment for several counters, in one statement on the database."""
    if _cache() is not None or len(windows) < 2:
        return {key: _increment(key, ends) for key, ends in windows}
    table, key_column, count_column, expires_column = (
        connection.ops.quote_name(name) for name in (RateLimitCounter._meta.db_table, "key", "count", "expires_at")
    )
    values = ", ".join(["(%s, 1, %s)"] * len(windows))
    parameters = [value for key, ends in windows for value in (key, connection.ops.adapt_datetimefield_value(ends))]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({key_column}, {count_column}, {expires_column}) VALUES {values} "
            f"ON CONFLICT ({key_column}) DO UPDATE SET {count_column} = {table}.{count_column} + 1 "
            f"RETURNING {key_column}, {count_column}",
            parameters,
        )
        return dict(cursor.fetchall())


def _current(key: str) -> int:
    cache = _cache()
    if cache is not None:
        return cache.get(key, 0)
    return RateLimitCounter.objects.filter(key=key).values_list("count", flat=True).first() or 0


def _decrement_many(keys: list[str]) -> None:
    cache = _cache()
    if cache is not None:
        for key in keys:
            try:
                cache.decr(key)
            except ValueError:
                pass  # the window ended meanwhile
        return
    RateLimitCounter.objects.filter(key__in=keys).update(count=F("count") - 1)


def hit(name: str, subject: str, limits: tuple[Rate, ...]) -> None:
    """Counts one event of `subject` against each rate, or raises LimitExceeded when it would be one too
    many for any of them. A refused event is taken back from every rate it was counted in, so that hammering
    one window (say, 15 minutes) does not use up a longer one (the day). Under parallel requests a count
    can be refused that a serial order would have allowed, never the other way round."""
    hit_all([(name, subject, limits)])


def hit_all(events: list[tuple[str, str, tuple[Rate, ...]]]) -> None:
    """`hit` for several (name, subject, rates) at once: every counter raised in one statement on the
    database; when any is over, all are taken back (one more statement) and LimitExceeded names the first."""
    windows = [(name, *_window(name, subject, rate), rate) for name, subject, limits in events for rate in limits]
    counts = _increment_many([(key, ends) for _, key, ends, _ in windows])
    for name, key, ends, rate in windows:
        if counts[key] > rate.count:
            _decrement_many([key for _, key, _, _ in windows])
            raise LimitExceeded(name, _retry_after(ends))


def check(name: str, subject: str, limits: tuple[Rate, ...]) -> None:
    """Raises LimitExceeded when `subject` has already used up any of the rates; counts nothing."""
    for rate in limits:
        key, ends = _window(name, subject, rate)
        if _current(key) >= rate.count:
            raise LimitExceeded(name, _retry_after(ends))


def reset(name: str, subject: str, limits: tuple[Rate, ...]) -> None:
    """Forgets `subject`'s current counts (tests, and an operator lifting a block)."""
    for rate in limits:
        key, _ = _window(name, subject, rate)
        cache = _cache()
        if cache is not None:
            cache.delete(key)
        else:
            RateLimitCounter.objects.filter(key=key).delete()


#
# The limits otpsite applies
#

AUTH_FAILURES = "auth_failures"
API_KEY_REQUESTS = "api_key_requests"
STORE_CODES_PER_IP = "store_codes_ip"
STORE_CODES_PER_EMAIL = "store_codes_email"


def auth_failure_rates() -> tuple[Rate, ...]:
    return rates(settings.OTPSITE_AUTH_FAILURES_PER_IP)


def refuse_blocked_address(client_ip: str | None) -> None:
    """Before checking any credentials: an address with too many failed authentications is refused, right
    credentials or not, until its window ends."""
    if client_ip:
        check(AUTH_FAILURES, client_ip, auth_failure_rates())


def record_failed_authentication(client_ip: str | None) -> None:
    if client_ip:
        try:
            hit(AUTH_FAILURES, client_ip, auth_failure_rates())
        except LimitExceeded:
            pass  # the address was already blocked; this failure is answered as itself


def _failure_windows(client_ip: str | None) -> list[tuple[str, datetime, Rate]]:
    if not client_ip:
        return []
    return [(*_window(AUTH_FAILURES, client_ip, rate), rate) for rate in auth_failure_rates()]


def _blocked(windows: list[tuple[str, datetime, Rate]], counts: dict) -> None:
    for key, ends, rate in windows:
        if (counts.get(key) or 0) >= rate.count:
            raise LimitExceeded(AUTH_FAILURES, _retry_after(ends))


def _bump_and_read(
    bumped: tuple[str, datetime], read: list[str], also_read: tuple[str, list] | None, ahead: ReadAhead | None
) -> tuple:
    """Raises one counter, reads others, evaluates `also_read` (a scalar query and its parameters) and makes
    the read `ahead` (its row set on it) in one statement: on PostgreSQL a data-modifying CTE, elsewhere
    (SQLite under `make run`) the UPSERT, then one SELECT, and no read ahead."""
    if connection.vendor != "postgresql":
        count = _increment(*bumped)
        return count, _counts(read), (_scalar(also_read) if also_read else NOT_READ)
    table, key_column, count_column, expires_column = (
        connection.ops.quote_name(name) for name in (RateLimitCounter._meta.db_table, "key", "count", "expires_at")
    )
    key, ends = bumped
    extra_sql, extra_parameters = also_read or ("SELECT NULL", [])
    sql = (
        f"WITH bumped AS (INSERT INTO {table} ({key_column}, {count_column}, {expires_column}) "
        f"VALUES (%s, 1, %s) ON CONFLICT ({key_column}) DO UPDATE SET {count_column} = "
        f"{table}.{count_column} + 1 RETURNING {count_column}) "
        f"SELECT (SELECT {count_column} FROM bumped), "
        f"(SELECT json_object_agg({key_column}, {count_column}) FROM {table} WHERE {key_column} = ANY(%s)), "
        f"({extra_sql})"
    )
    parameters = [key, connection.ops.adapt_datetimefield_value(ends), read, *extra_parameters]
    if ahead is not None:
        # One row whatever the read finds: its columns follow, all NULL when it found nothing.
        sql += f", ahead.* FROM (SELECT 1) AS one LEFT JOIN LATERAL ({ahead.sql}) AS ahead ON TRUE"
        parameters += ahead.parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, parameters)
        count, counts, extra, *row = cursor.fetchone()
    if ahead is not None:
        ahead.ran, ahead.row = True, (None if row[0] is None else tuple(row))
    return count, counts or {}, (extra if also_read else NOT_READ)


def _scalar(query: tuple[str, list]):
    with connection.cursor() as cursor:
        cursor.execute(*query)
        row = cursor.fetchone()
    return row[0] if row else None


def _counts(keys: list[str]) -> dict:
    if not keys:
        return {}
    cache = _cache()
    if cache is not None:
        return cache.get_many(keys)
    return dict(RateLimitCounter.objects.filter(key__in=keys).values_list("key", "count"))


# What authenticated_request returns for `also_read` when no statement was shared (limits counted by a cache).
NOT_READ = object()


def authenticated_request(
    *,
    client_ip: str | None,
    key_id: str | None = None,
    per_minute: int | None = None,
    also_read: tuple[str, list] | None = None,
    ahead: ReadAhead | None = None,
):
    """After credentials were accepted, at most one statement: counts the request against the API key's
    requests per minute (when the caller is a key) and reads the address's failed authentications. Raises
    LimitExceeded when the address is blocked (right credentials or not: a blocked address learns nothing
    from the answer) or the key has used up its minute. Each request counts, refused ones too, so that
    exactly `per_minute` requests a minute are served however many arrive in parallel.

    `also_read`, a scalar SQL query and its parameters, rides along in the same statement; its value is
    returned (NOT_READ when the limits are counted by a cache and there is no statement to share). So does
    the read `ahead` of the request's service, on PostgreSQL (its row is set on it; left unread otherwise)."""
    windows = _failure_windows(client_ip)
    failure_keys = [key for key, _, _ in windows]
    if key_id is None:
        _blocked(windows, _counts(failure_keys))
        return NOT_READ
    rate = Rate(per_minute or settings.OTPSITE_API_KEY_REQUESTS_PER_MINUTE, 60)
    key, ends = _window(API_KEY_REQUESTS, key_id, rate)
    if _cache() is not None:
        count, counts, extra = _increment(key, ends), _counts(failure_keys), NOT_READ
    else:
        count, counts, extra = _bump_and_read((key, ends), failure_keys, also_read, ahead)
    _blocked(windows, counts)
    if count > rate.count:
        raise LimitExceeded(API_KEY_REQUESTS, _retry_after(ends))
    return extra


def failed_authentication(client_ip: str | None) -> None:
    """One failed authentication from the address, counted in one UPSERT (of a row per configured
    rate); raises LimitExceeded once the address is over any of them. Every failure counts, refused or
    not, so that an address hammering away stays blocked until its window ends."""
    windows = _failure_windows(client_ip)
    counts = _increment_many([(key, ends) for key, ends, _ in windows])
    for key, ends, rate in windows:
        if counts[key] > rate.count:
            raise LimitExceeded(AUTH_FAILURES, _retry_after(ends))


def store_code_request(*, client_ip: str | None, email: str) -> None:
    """One store-page code request: within the address's budget and within the email's (the email's is
    counted whether or not it has access, so the answer tells nothing about it); one statement."""
    events = [(STORE_CODES_PER_EMAIL, email, rates(settings.OTPSITE_STORE_CODE_REQUESTS_PER_EMAIL))]
    if client_ip:
        events.insert(0, (STORE_CODES_PER_IP, client_ip, rates(settings.OTPSITE_STORE_CODE_REQUESTS_PER_IP)))
    hit_all(events)


def expired_counters_delete(now: datetime | None = None) -> int:
    return RateLimitCounter.objects.filter(expires_at__lte=now or timezone.now()).delete()[0]


__all__ = [
    "NOT_READ",
    "LimitExceeded",
    "Rate",
    "authenticated_request",
    "check",
    "failed_authentication",
    "hit",
    "hit_all",
    "record_failed_authentication",
    "refuse_blocked_address",
    "reset",
    "store_code_request",
]
