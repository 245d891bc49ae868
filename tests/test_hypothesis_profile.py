"""Issue 10, finding 12: property tests cannot fail at random on a busy machine."""

from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings


def test_the_ci_profile_is_loaded_by_default():
    current = hypothesis_settings()
    assert current.derandomize is True
    assert current.deadline is None
    assert HealthCheck.too_slow in current.suppress_health_check
