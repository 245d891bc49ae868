"""otpsite/limits.py and the client address: fixed windows, exact counts under parallel requests on
PostgreSQL, the same rules on a cache backend, and X-Forwarded-For believed only from trusted proxies."""

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ImproperlyConfigured

from otpsite import limits
from otpsite.env import env_rates
from otpsite.middleware import client_ip_from
from otpsite.models import RateLimitCounter
from tests.concurrency import PARALLEL, run_in_parallel

THREE_A_MINUTE = (limits.Rate(3, 60),)


@pytest.fixture
def morning(clock):
    clock.now = datetime(2026, 3, 2, 8, 0, 10, tzinfo=UTC)
    return clock


def allowed(name: str, subject: str, rates) -> bool:
    try:
        limits.hit(name, subject, rates)
    except limits.LimitExceeded:
        return False
    return True


@pytest.fixture(params=["database", "cache"])
def backend(request, settings):
    """Every rule holds on the database counters and on a cache backend with an atomic INCR."""
    if request.param == "cache":
        settings.CACHES = {
            **settings.CACHES,
            "limits": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": request.node.name},
        }
        settings.OTPSITE_RATE_LIMIT_CACHE = "limits"
    return request.param


@pytest.mark.django_db
class TestWindows:
    def test_the_count_then_a_refusal_until_the_window_ends(self, backend, morning):
        assert [allowed("t", "a", THREE_A_MINUTE) for _ in range(5)] == [True, True, True, False, False]
        with pytest.raises(limits.LimitExceeded) as refused:
            limits.hit("t", "a", THREE_A_MINUTE)
        assert refused.value.retry_after == 50  # the window started at 08:00:00
        assert allowed("t", "b", THREE_A_MINUTE) and allowed("other", "a", THREE_A_MINUTE)
        morning.advance(seconds=50)
        assert allowed("t", "a", THREE_A_MINUTE)

    def test_a_refusal_by_the_short_window_does_not_use_up_the_long_one(self, backend, morning):
        rates = (limits.Rate(2, 60), limits.Rate(5, 86_400))
        outcomes = []
        for _ in range(4):
            outcomes += [allowed("t", "a", rates) for _ in range(10)]
            morning.advance(seconds=60)
        assert outcomes.count(True) == 5 and outcomes[:3] == [True, True, False]

    def test_check_counts_nothing(self, backend, morning):
        for _ in range(3):
            limits.check("t", "a", THREE_A_MINUTE)
        for _ in range(3):
            limits.hit("t", "a", THREE_A_MINUTE)
        with pytest.raises(limits.LimitExceeded):
            limits.check("t", "a", THREE_A_MINUTE)
        limits.reset("t", "a", THREE_A_MINUTE)
        limits.check("t", "a", THREE_A_MINUTE)

    def test_subjects_are_compared_without_case_and_kept_hashed(self, morning):
        for _ in range(3):
            limits.hit("t", "Person@Example.com", THREE_A_MINUTE)
        assert not allowed("t", "person@example.com", THREE_A_MINUTE)
        assert not RateLimitCounter.objects.filter(key__icontains="example").exists()

    def test_ended_windows_are_deleted(self, morning):
        limits.hit("t", "a", THREE_A_MINUTE)
        morning.advance(minutes=2)
        limits.hit("t", "b", THREE_A_MINUTE)
        assert limits.expired_counters_delete() == 1
        assert RateLimitCounter.objects.count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.concurrency
def test_fifty_parallel_hits_on_the_database_allow_exactly_the_limit():
    """Django's DatabaseCache.incr is a read then a write (parallel requests would lose counts); the counter
    row's INSERT … ON CONFLICT DO UPDATE … RETURNING is one atomic statement."""
    rates = (limits.Rate(10, 3600),)
    results = run_in_parallel(lambda: allowed("parallel", "one", rates))
    assert results.count(True) == 10 and results.count(False) == PARALLEL - 10
    # Each refusal took its count back: the row holds exactly the allowed events.
    assert RateLimitCounter.objects.get().count == 10


@pytest.mark.django_db(transaction=True)
@pytest.mark.concurrency
def test_fifty_parallel_failures_block_the_address_at_exactly_the_limit(settings):
    settings.OTPSITE_AUTH_FAILURES_PER_IP = ((20, 900),)
    run_in_parallel(lambda: limits.record_failed_authentication("192.0.2.7"))
    assert RateLimitCounter.objects.get().count == 20
    with pytest.raises(limits.LimitExceeded):
        limits.refuse_blocked_address("192.0.2.7")


def key_request_allowed(per_minute: int) -> bool:
    try:
        limits.authenticated_request(client_ip="192.0.2.8", key_id="parallel-key", per_minute=per_minute)
    except limits.LimitExceeded as exceeded:
        assert exceeded.name == limits.API_KEY_REQUESTS
        return False
    return True


@pytest.mark.django_db(transaction=True)
@pytest.mark.concurrency
def test_fifty_parallel_requests_with_one_key_are_served_exactly_its_requests_per_minute():
    """The key's count and the address's failures in one statement (a data-modifying CTE): each parallel
    request gets its own count, so exactly `per_minute` are served."""
    results = run_in_parallel(lambda: key_request_allowed(10))
    assert results.count(True) == 10 and results.count(False) == PARALLEL - 10
    assert RateLimitCounter.objects.get().count == PARALLEL  # refused requests count too


@pytest.mark.django_db
def test_an_accepted_request_from_a_blocked_address_is_refused(settings):
    settings.OTPSITE_AUTH_FAILURES_PER_IP = ((2, 900),)
    limits.failed_authentication("192.0.2.9")
    limits.authenticated_request(client_ip="192.0.2.9", key_id="k", per_minute=100)
    with pytest.raises(limits.LimitExceeded) as refused:
        limits.failed_authentication("192.0.2.9")
        limits.failed_authentication("192.0.2.9")
    assert refused.value.name == limits.AUTH_FAILURES and refused.value.retry_after >= 1
    for key_id in ("k", None):
        with pytest.raises(limits.LimitExceeded) as refused:
            limits.authenticated_request(client_ip="192.0.2.9", key_id=key_id, per_minute=100)
        assert refused.value.name == limits.AUTH_FAILURES
    limits.authenticated_request(client_ip="192.0.2.10", key_id="k", per_minute=100)


class TestClientAddress:
    def test_without_trusted_proxies_the_forwarded_header_is_ignored(self, settings):
        settings.OTPSITE_TRUSTED_PROXIES = []
        meta = {"REMOTE_ADDR": "198.51.100.1", "HTTP_X_FORWARDED_FOR": "192.0.2.1"}
        assert client_ip_from(meta) == "198.51.100.1"

    def test_behind_trusted_proxies_the_first_untrusted_hop_from_the_right(self, settings):
        settings.OTPSITE_TRUSTED_PROXIES = ["10.0.0.0/8", "127.0.0.1"]
        # The client claims 1.2.3.4 itself; 192.0.2.1 is what the outer trusted proxy saw.
        meta = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "1.2.3.4, 192.0.2.1, 10.1.2.3"}
        assert client_ip_from(meta) == "192.0.2.1"

    def test_an_untrusted_peer_cannot_forward(self, settings):
        settings.OTPSITE_TRUSTED_PROXIES = ["10.0.0.0/8"]
        assert client_ip_from({"REMOTE_ADDR": "198.51.100.1", "HTTP_X_FORWARDED_FOR": "10.0.0.1"}) == "198.51.100.1"

    def test_garbage_in_the_header_stops_the_walk(self, settings):
        settings.OTPSITE_TRUSTED_PROXIES = ["127.0.0.1"]
        assert client_ip_from({"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "nonsense"}) == "127.0.0.1"
        assert client_ip_from({"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": " 2001:db8::1 "}) == "2001:db8::1"

    def test_a_bad_setting_is_named(self, settings):
        settings.OTPSITE_TRUSTED_PROXIES = ["not-a-network"]
        with pytest.raises(ImproperlyConfigured, match="OTPSITE_TRUSTED_PROXIES"):
            client_ip_from({"REMOTE_ADDR": "127.0.0.1"})


class TestRateSettings:
    def test_parsed(self, monkeypatch):
        monkeypatch.setenv("RATES", "3/900, 10/86400")
        assert env_rates("RATES", "1/1") == ((3, 900), (10, 86400))
        monkeypatch.delenv("RATES")
        assert env_rates("RATES", "5/60") == ((5, 60),)

    @pytest.mark.parametrize("raw", ["3", "3/0", "x/60", "3/60,", "0/60"])
    def test_refused(self, monkeypatch, raw):
        monkeypatch.setenv("RATES", raw)
        with pytest.raises(ImproperlyConfigured, match="RATES"):
            env_rates("RATES", "1/1")


@pytest.mark.django_db
def test_the_counters_are_unlogged_so_their_commits_wait_for_no_wal_flush():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT relpersistence FROM pg_class WHERE relname = %s", [RateLimitCounter._meta.db_table])
        assert cursor.fetchone() == ("u",)
