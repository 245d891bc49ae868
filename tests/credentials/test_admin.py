import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from credentials.delivery import MemorySmsBackend
from credentials.models import IssuedCode
from otpusers.models import AuditEvent
from tests.credentials.helpers import issue, last_sms_code, person_in, verify
from tests.delivery import run_worker
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_pages_render_without_ever_showing_a_code(superuser_client):
    person = person_in(code_read_back_allowed=True)
    issued = issue(person).code
    code = last_sms_code()
    changelist = reverse("admin:credentials_issuedcode_changelist")
    pages = [
        superuser_client.get(changelist),
        superuser_client.get(changelist, {"q": person.mobile}),
        superuser_client.get(reverse("admin:credentials_issuedcode_change", args=[issued.pk])),
    ]
    for status in ("outstanding", "used", "expired", "superseded", "locked", "revoked"):
        pages.append(superuser_client.get(changelist, {"status": status}))
    pages.append(superuser_client.get(changelist, {"channel": "SMS", "scope__exact": "GENERIC"}))
    for page in pages:
        assert page.status_code == 200
        body = page.content.decode()
        assert code not in body
        assert issued.code_sealed not in body and issued.code_digest not in body
    assert person.mobile in pages[1].content.decode()
    assert superuser_client.get(reverse("admin:credentials_issuedcode_add")).status_code == 403


def test_the_status_filter_sorts_codes_by_state(superuser_client):
    used_person = person_in()
    issue(used_person)
    verify(used_person, last_sms_code())
    outstanding = issue(person_in()).code
    changelist = reverse("admin:credentials_issuedcode_changelist")
    listed = superuser_client.get(changelist, {"status": "outstanding"}).context["cl"].result_list
    assert list(listed) == [outstanding]
    assert len(superuser_client.get(changelist, {"status": "used"}).context["cl"].result_list) == 1


def test_revoke_action_revokes_outstanding_codes(superuser_client):
    person = person_in()
    issued = issue(person).code
    superuser_client.post(
        reverse("admin:credentials_issuedcode_changelist"),
        {"action": "revoke", "_selected_action": [issued.pk]},
    )
    assert IssuedCode.objects.get(pk=issued.pk).revoked_at is not None
    assert AuditEvent.objects.filter(action="code.revoke", user__username="root").exists()


def test_the_organization_page_edits_its_otp_settings(superuser_client):
    organization = person_in().organization
    url = reverse("admin:otpusers_organization_change", args=[organization.pk])
    page = superuser_client.get(url).content.decode()
    assert "daily_issue_limit" in page and "code_read_back_allowed" in page
    response = superuser_client.post(
        url,
        {
            "name": organization.name,
            "slug": organization.slug,
            "code_length": 8,
            "code_alphabet": "alphanumeric",
            "code_validity_seconds": 300,
            "code_max_attempts": 3,
            "daily_issue_limit": 20,
            "resend_cooldown_seconds": 45,
            "code_read_back_allowed": "on",
            "stores-TOTAL_FORMS": 0,
            "stores-INITIAL_FORMS": 0,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    organization.refresh_from_db()
    assert (organization.code_length, organization.daily_issue_limit) == (8, 20)
    assert organization.code_read_back_allowed is True
    assert AuditEvent.objects.filter(action="organization.update").exists()


def test_the_database_refuses_settings_out_of_range(superuser_client):
    organization = person_in().organization
    response = superuser_client.post(
        reverse("admin:otpusers_organization_change", args=[organization.pk]),
        {
            "name": organization.name,
            "slug": organization.slug,
            "code_length": 2,
            "code_alphabet": "digits",
            "code_validity_seconds": 300,
            "code_max_attempts": 3,
            "daily_issue_limit": 20,
            "resend_cooldown_seconds": 45,
            "stores-TOTAL_FORMS": 0,
            "stores-INITIAL_FORMS": 0,
        },
    )
    assert response.status_code == 200
    assert "Codes have 4 to 12 characters" in response.content.decode()


def test_a_code_that_failed_for_good_is_listed_as_failed_with_its_attempts(superuser_client, clock):
    person = person_in()
    MemorySmsBackend.fail_next = 3
    issued = issue(person).code
    for delay in (0, 30, 90):
        clock.advance(seconds=delay)
        run_worker()
    changelist = reverse("admin:credentials_issuedcode_changelist")
    listed = superuser_client.get(changelist, {"delivery_status__exact": "failed"}).context["cl"].result_list
    assert list(listed) == [issued]
    page = superuser_client.get(reverse("admin:credentials_issuedcode_change", args=[issued.pk])).content.decode()
    assert page.count("The in-memory gateway was told to fail.") >= 3 and "Failed for good" in page


def test_the_task_queue_pages_never_show_a_task_s_arguments(superuser_client):
    person = person_in()
    issue(person)
    task = DBTaskResult.objects.get()
    sealed = task.args_kwargs["kwargs"]["sealed"]
    changelist = reverse("admin:django_tasks_database_dbtaskresult_changelist")
    change = reverse("admin:django_tasks_database_dbtaskresult_change", args=[task.pk])
    pages = [superuser_client.get(changelist), superuser_client.get(change)]
    code = last_sms_code()
    pages += [superuser_client.get(changelist), superuser_client.get(change)]
    for page in pages:
        assert page.status_code == 200
        body = page.content.decode()
        assert "deliver_code" in body
        assert sealed not in body and code not in body and person.mobile not in body
        assert "args kwargs" not in body.lower() and "return value" not in body.lower()
    assert "Successful" in pages[-1].content.decode()


def test_only_superusers_see_the_task_queue(client):
    staff = UserFactory(username="staff", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label="django_tasks_database"))
    client.force_login(staff)
    assert client.get(reverse("admin:django_tasks_database_dbtaskresult_changelist")).status_code == 403
    assert "dbtaskresult" not in client.get(reverse("admin:index")).content.decode()
