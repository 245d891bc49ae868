import pytest
from django.db import connection

from otpusers.models import OtpUser
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("field", ["email", "mobile", "user_name", "ext_id"])
def test_identifier_lookups_use_the_case_insensitive_unique_index(field):
    organization = OrganizationFactory()
    OtpUser.objects.bulk_create(
        OtpUser(organization=organization, **{field: f"Person{n}@Example.com"}) for n in range(2000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE otpusers_otpuser")
    query = OtpUser.objects.filter(organization=organization).with_identifier(field, "PERSON7@example.com")
    plan = query.explain()
    assert f"otpusers_otpuser_unique_{field}" in plan, plan
    assert query.get().pk


def test_the_audit_changelist_order_is_served_by_an_index():
    from otpusers.models import AuditEvent

    AuditEvent.objects.bulk_create(AuditEvent(actor_type="system", action="bench") for _ in range(3000))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE otpusers_auditevent")
    plan = AuditEvent.objects.all()[:100].explain()
    assert "otpusers_audit_time" in plan and "Sort" not in plan.split("\n")[0], plan
