"""Parallel requests on real PostgreSQL connections (see tests/concurrency.py)."""

from collections import Counter

import pytest

from credentials import services
from credentials.choices import VerifyOutcome
from credentials.models import IssuedCode
from otpusers.models import AuditEvent
from tests.concurrency import PARALLEL, run_in_parallel
from tests.credentials.helpers import issue, last_sms_code, person_in, verify
from tests.delivery import run_worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]


def test_fifty_parallel_verifies_of_one_correct_code_succeed_exactly_once():
    person = person_in()
    issue(person)
    code = last_sms_code()
    outcomes = Counter(run_in_parallel(lambda: verify(person, code)))
    assert outcomes == {VerifyOutcome.SUCCESS: 1, VerifyOutcome.USED: PARALLEL - 1}
    assert AuditEvent.objects.filter(action="code.verify", reason="success").count() == 1


def test_fifty_parallel_wrong_guesses_count_exactly_the_allowed_attempts():
    person = person_in(code_max_attempts=5)
    issue(person)
    wrong = "000000" if last_sms_code() != "000000" else "111111"
    outcomes = Counter(run_in_parallel(lambda: verify(person, wrong)))
    assert outcomes == {VerifyOutcome.WRONG: 5, VerifyOutcome.LOCKED: PARALLEL - 5}
    stored = IssuedCode.objects.get(otp_user=person)
    assert stored.attempts == 5 and stored.locked_at is not None


def test_fifty_parallel_issues_with_a_daily_limit_of_ten_make_exactly_ten_codes(sms_outbox):
    person = person_in(daily_issue_limit=10, resend_cooldown_seconds=0)
    results = run_in_parallel(lambda: issue(person))
    issued = [result for result in results if isinstance(result, services.IssueResult)]
    refused = [result for result in results if isinstance(result, services.DailyLimitReached)]
    assert len(issued) == 10 and len(refused) == PARALLEL - 10
    assert IssuedCode.objects.filter(otp_user=person).count() == 10
    assert run_worker() == 10
    assert len(sms_outbox) == 10
    # Each new code superseded the one before it: exactly one is outstanding.
    assert IssuedCode.objects.outstanding().filter(otp_user=person).count() == 1


def test_fifty_parallel_resends_inside_the_cooldown_send_exactly_the_daily_limit(sms_outbox):
    """Capillary's generate while a code is valid: one code, re-sent inside the cooldown, each send counted."""
    person = person_in(daily_issue_limit=10, resend_cooldown_seconds=60, code_read_back_allowed=True)
    results = run_in_parallel(lambda: issue(person, resend_outstanding=True))
    sent = [result for result in results if isinstance(result, services.IssueResult)]
    refused = [result for result in results if isinstance(result, services.DailyLimitReached)]
    assert len(sent) == 10 and len(refused) == PARALLEL - 10
    assert sum(result.resent for result in sent) == 9
    assert IssuedCode.objects.get(otp_user=person).send_count == 10
    assert len(sms_outbox) == 10 and len({message.body for message in sms_outbox}) == 1
