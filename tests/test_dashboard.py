"""The admin index is a dashboard: figures over today, 7 and 30 days for the staff user's organizations,
each linking to the list of what it counts, in a fixed number of statements, on indexed ranges."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import RequestFactory
from django.urls import reverse

from credentials.models import IssuedCode
from otpsite import dashboard
from otpsite.models import DashboardPeriod
from otpusers.audit import Actor, audit_record
from otpusers.models import AuditEvent
from tests.factories import OrganizationFactory, OtpUserFactory, UserFactory

pytestmark = pytest.mark.django_db

DIGEST = "0" * 64


def code_at(person, when, scope="GENERIC", surface="capillary", **fields) -> IssuedCode:
    return IssuedCode.objects.create(
        organization=person.organization,
        otp_user=person,
        identifier_type="mobile",
        identifier_value="+4915100000000",
        scope=scope,
        surface=surface,
        channels=["SMS"],
        code_digest=DIGEST,
        valid_until=when + timedelta(minutes=10),
        max_attempts=5,
        created_at=when,
        delivery_status=fields.pop("delivery_status", "sent"),
        **fields,
    )


def event_at(person, when, action="code.verify", outcome="success", **detail) -> AuditEvent:
    event = audit_record(
        actor=Actor.system("tests"),
        action=action,
        organization=person.organization,
        target=person,
        outcome=outcome,
        detail={"scope": "GENERIC", "surface": "capillary", **detail},
    )
    AuditEvent.objects.filter(pk=event.pk).update(created_at=when)
    return event


@pytest.fixture
def now(clock):
    # Mid-day, so that "today" holds events an hour ago and yesterday has settled; the page is built at that
    # moment too (at 00:10 the live window would straddle midnight and read one more range).
    clock.now = clock.now.replace(hour=12, minute=0, second=0, microsecond=0)
    return clock.now


@pytest.fixture
def activity(now):
    person = OtpUserFactory(organization=OrganizationFactory(name="Acme"))
    for hours in (1, 2, 3):
        code_at(person, now - timedelta(hours=hours))
    code_at(person, now - timedelta(days=5), scope="COUPON", surface="manage")
    code_at(person, now - timedelta(days=5), delivery_status="failed", delivery_error="gateway said no")
    code_at(person, now - timedelta(days=20))
    code_at(person, now - timedelta(days=40))  # outside every window
    event_at(person, now - timedelta(hours=1))
    event_at(person, now - timedelta(days=3), outcome="failure", scope="COUPON", surface="manage")
    event_at(person, now - timedelta(days=3), action="app_access.download")
    return person


def request_for(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def figure(board, title):
    return next(f for f in board.codes if f.title == title)


def test_figures_over_today_7_and_30_days(activity, now):
    board = dashboard.build(request_for(UserFactory(is_superuser=True)), now=now)
    assert [count for count, _ in figure(board, "Codes issued").values] == [3, 5, 6]
    assert [count for count, _ in figure(board, "Codes verified").values] == [1, 1, 1]
    assert [count for count, _ in figure(board, "Failed verifications").values] == [0, 1, 1]
    assert [count for count, _ in figure(board, "Downloads").values] == [0, 1, 1]
    # Every code but today's has expired unused (none was used in these figures).
    assert [count for count, _ in figure(board, "Expired unused").values] == [3, 5, 6]
    sms = next(row for row in board.deliveries if row["channel"] == "SMS")
    assert [count for count, _ in sms["failed"]] == [0, 1, 1] and sms["delivered"] == 5
    assert [(row["surface"], row["scope"]) for row in board.surfaces] == [
        ("Capillary", "All scopes"),
        ("Capillary", "Generic"),
        ("myKaarma manage", "All scopes"),
        ("myKaarma manage", "Coupon redemption"),
    ]


def cells(row) -> dict[str, list[int]]:
    counts = [count for count, _ in row["cells"]]
    return {kind: counts[3 * n : 3 * n + 3] for n, kind in enumerate(dashboard.CODE_KINDS)}


def row_of(board, surface, scope):
    return next(row for row in board.surfaces if (row["surface"], row["scope"]) == (surface, scope))


def test_figures_per_surface_and_scope(activity, now):
    board = dashboard.build(request_for(UserFactory(is_superuser=True)), now=now)
    assert cells(row_of(board, "Capillary", "Generic")) == {
        "issued": [3, 4, 5],
        "verified": [1, 1, 1],
        "failed": [0, 0, 0],
        "expired": [3, 4, 5],
    }
    assert cells(row_of(board, "myKaarma manage", "Coupon redemption")) == {
        "issued": [0, 1, 1],
        "verified": [0, 0, 0],
        "failed": [0, 1, 1],
        "expired": [0, 1, 1],
    }
    assert cells(row_of(board, "myKaarma manage", "All scopes")) == cells(
        row_of(board, "myKaarma manage", "Coupon redemption")
    )


def test_periods_kept_before_codes_carried_their_surface_read_as_unknown(activity, now):
    """Rolled-up days of an older version name counters `issued:GENERIC`; codes and audit events of that time
    have no surface either (the migration gives codes 'unknown')."""
    old_day = dashboard._day_start((now - timedelta(days=10)).date())
    dashboard.rollup_days(now)
    DashboardPeriod.objects.filter(organization=activity.organization, length="day", start=old_day).delete()
    DashboardPeriod.objects.create(
        organization=activity.organization,
        length="day",
        start=old_day,
        figures={"issued:GENERIC": 4, "expired:GENERIC": 3, "verified:GENERIC": 1, "failed:COUPON": 2},
    )
    code_at(activity, now - timedelta(minutes=30), surface="unknown")  # counted live
    event_at(activity, now - timedelta(minutes=30), outcome="failure", surface=None)
    AuditEvent.objects.filter(detail__surface=None).update(detail={"scope": "GENERIC"})
    board = dashboard.build(request_for(UserFactory(is_superuser=True)), now=now)
    unknown = "Unknown (before surfaces were recorded)"
    assert cells(row_of(board, unknown, "Generic")) == {
        "issued": [1, 1, 5],
        "verified": [0, 0, 1],
        "failed": [1, 1, 1],
        "expired": [1, 1, 4],  # today's code too, valid for ten minutes
    }
    assert cells(row_of(board, unknown, "Coupon redemption"))["failed"] == [0, 0, 2]
    assert [count for count, _ in figure(board, "Codes issued").values] == [4, 6, 11]


def test_finished_days_are_computed_once_and_kept(activity, now):
    dashboard.build(request_for(UserFactory(is_superuser=True)), now=now)
    markers = DashboardPeriod.objects.filter(organization__isnull=True)
    assert markers.filter(length="day").count() == dashboard.HISTORY_DAYS
    # Today's hours up to an hour ago (now is 12:00: 00:00 to 10:00 have settled), kept too.
    assert markers.filter(length="hour").count() == 11
    assert dashboard.rollup_days(now) == 0
    five_days_ago = DashboardPeriod.objects.get(
        organization=activity.organization, length="day", start=dashboard._day_start((now - timedelta(days=5)).date())
    )
    assert five_days_ago.figures["issued:GENERIC:capillary"] == 1
    assert five_days_ago.figures["issued:COUPON:manage"] == 1


def test_a_staff_user_sees_only_their_organizations_figures(activity, now):
    staff = UserFactory(username="other-desk")
    OrganizationFactory().staff.add(staff)
    board = dashboard.build(request_for(staff), now=now)
    assert all(count == 0 for f in board.codes for count, _ in f.values)
    assert board.recent == []
    activity.organization.staff.add(staff)
    board = dashboard.build(request_for(staff), now=now)
    assert [count for count, _ in figure(board, "Codes issued").values] == [3, 5, 6]
    assert board.recent and all(event.organization_id == activity.organization_id for event in board.recent)


def test_each_figure_links_to_the_list_of_what_it_counts(activity, now, superuser_client):
    board = dashboard.build(request_for(UserFactory(is_superuser=True)), now=now)
    for title in ("Codes issued", "Failed verifications"):
        for count, link in figure(board, title).values:
            listed = superuser_client.get(link).context["cl"].result_list
            assert len(listed) == count, (title, link)
    # Per surface and scope too: codes by their surface and scope, verifications by their audit detail.
    for row in board.surfaces:
        for count, link in row["cells"]:
            if "status=expired" in link:
                continue  # expired by end of validity, listed by issue date: see the next test
            response = superuser_client.get(link)
            assert response.status_code == 200 and "?e=1" not in response.get("Location", "")
            assert response.context["cl"].result_count == count, (row["surface"], row["scope"], link)
    sms = next(row for row in board.deliveries if row["channel"] == "SMS")
    count, link = sms["failed"][2]
    assert [code.delivery_error for code in superuser_client.get(link).context["cl"].result_list] == ["gateway said no"]
    assert sms["latest_reason"] == "" or "gateway" in sms["latest_reason"]


def test_the_index_page_renders_the_dashboard_in_a_fixed_number_of_statements(
    activity, now, client, django_assert_max_num_queries
):
    staff = UserFactory(username="desk")
    staff.user_permissions.add(*Permission.objects.filter(content_type__app_label__in=["otpusers", "credentials"]))
    activity.organization.staff.add(staff)
    client.force_login(staff)
    first = client.get(reverse("admin:index"))
    assert first.status_code == 200
    body = first.content.decode()
    assert 'id="dashboard"' in body and "Codes issued" in body and 'data-type="line"' in body
    assert "Recent actions" in body
    with django_assert_max_num_queries(20):
        assert client.get(reverse("admin:index")).status_code == 200


def test_the_live_counts_walk_an_index_on_a_seeded_table(now):
    person = OtpUserFactory()
    codes = [
        IssuedCode(
            organization=person.organization,
            otp_user=person,
            identifier_type="mobile",
            identifier_value="+4915100000000",
            scope="GENERIC",
            channels=["SMS"],
            code_digest=DIGEST,
            valid_until=now - timedelta(minutes=n) + timedelta(minutes=10),
            max_attempts=5,
            created_at=now - timedelta(minutes=n),
        )
        for n in range(0, 90 * 24 * 60, 20)
    ]
    IssuedCode.objects.bulk_create(codes, batch_size=2000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE credentials_issuedcode")
    start = now.replace(hour=0)
    issued = IssuedCode.objects.filter(created_at__gte=start, created_at__lt=now)
    for organization_ids in (None, [person.organization_id]):
        query = issued if organization_ids is None else issued.filter(organization_id__in=organization_ids)
        plan = query.values("organization_id", "scope").explain()
        assert "Seq Scan" not in plan and ("credentials_code_time" in plan or "credentials_code_org_time" in plan), plan
