"""Import people and app accesses from CSV/XLSX through the services (dry-run preview naming bad rows,
all or nothing, audited), into the importer's organizations only; exports hold no secret."""

import io

import openpyxl
import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from credentials import services as credential_services
from otpusers.audit import Actor
from otpusers.models import AppAccess, AuditEvent, OtpUser
from tests.credentials.helpers import issue, last_sms_code
from tests.factories import AppAccessFactory, OrganizationFactory, OtpUserFactory, UserFactory, make_api_key

pytestmark = pytest.mark.django_db

CSV, XLSX = "0", "1"
HEADER = "organization,email,mobile,external_id,wechat_id,user_name,ext_id,first_name,last_name\n"


def upload(client, model: str, content: bytes, name="people.csv", file_format=CSV):
    return client.post(
        reverse(f"admin:otpusers_{model}_import"),
        {"resource": "0", "format": file_format, "import_file": SimpleUploadedFile(name, content)},
    )


def confirm(client, model: str, preview):
    form = preview.context["confirm_form"]
    return client.post(reverse(f"admin:otpusers_{model}_process_import"), form.initial)


@pytest.fixture
def organization():
    return OrganizationFactory(slug="acme")


def test_a_bad_row_is_named_in_the_preview_and_nothing_is_imported(superuser_client, organization):
    OtpUserFactory(organization=organization, email="taken@example.com", user_name="taken")
    rows = (
        "acme,new.one@example.com,+4915100000001,,,new.one,,New,One\n"
        "acme,dup@example.com,,,,TAKEN,,Dup,Licate\n"
        "acme,not-an-email,,,,,,,\n"
    )
    preview = upload(superuser_client, "otpuser", (HEADER + rows).encode())
    assert preview.status_code == 200
    body = preview.content.decode()
    assert preview.context.get("confirm_form") is None  # no way to import a file with errors
    result = preview.context["result"]
    invalid_rows = [row.number for row in result.invalid_rows]
    assert invalid_rows == [2, 3] and "Enter a valid email address" in body
    assert "Another person in this organization has this user name" in body
    assert not OtpUser.objects.filter(email="new.one@example.com").exists()
    assert not AuditEvent.objects.filter(action="otp_user.create").exists()


def test_a_clean_file_is_previewed_then_imported_through_the_service(superuser_client, organization):
    rows = "acme,ana@example.com,+4915100000001,ext-1,wx-1,ana,ana-ext,Ana,Garcia\nacme,ben@example.com,,,,,,Ben,\n"
    preview = upload(superuser_client, "otpuser", (HEADER + rows).encode())
    assert preview.context["confirm_form"] is not None
    assert not OtpUser.objects.exists()  # the preview is a dry run
    done = confirm(superuser_client, "otpuser", preview)
    assert done.status_code == 302
    ana = OtpUser.objects.get(email="ana@example.com")
    assert (ana.mobile, ana.external_id, ana.wechat_id, ana.user_name, ana.ext_id) == (
        "+4915100000001",
        "ext-1",
        "wx-1",
        "ana",
        "ana-ext",
    )
    assert AuditEvent.objects.filter(action="otp_user.create", user__username="root").count() == 2
    # Importing the same file again changes nothing; a changed row updates the person, audited.
    again = upload(superuser_client, "otpuser", (HEADER + rows.replace("Garcia", "García")).encode())
    confirm(superuser_client, "otpuser", again)
    assert OtpUser.objects.count() == 2 and OtpUser.objects.get(pk=ana.pk).last_name == "García"
    assert AuditEvent.objects.get(action="otp_user.update").detail == {"changed": ["last_name"]}


def test_xlsx_is_imported_too(superuser_client, organization):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(HEADER.strip().split(","))
    sheet.append(["acme", "xl@example.com", "", "", "", "", "", "Ex", "Cel"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    preview = upload(superuser_client, "otpuser", buffer.getvalue(), name="people.xlsx", file_format=XLSX)
    confirm(superuser_client, "otpuser", preview)
    assert OtpUser.objects.get(email="xl@example.com").last_name == "Cel"


def test_app_accesses_are_imported_through_the_services(superuser_client, organization):
    access = AppAccessFactory(published_application__store__organization=organization, allowed_downloads_num=1)
    application = access.published_application.public_id
    rows = (
        "email,published_application,allowed_downloads_num\n"
        f"{access.otp_user.email},{application},5\n"
        f"fresh@example.com,{application},-1\n"
    )
    preview = upload(superuser_client, "appaccess", rows.encode(), name="accesses.csv")
    confirm(superuser_client, "appaccess", preview)
    assert AppAccess.objects.get(pk=access.pk).allowed_downloads_num == 5
    fresh = AppAccess.objects.get(otp_user__email="fresh@example.com")
    assert fresh.allowed_downloads_num == -1
    assert AuditEvent.objects.filter(action="app_access.create", object_id=fresh.public_id).exists()
    assert AuditEvent.objects.filter(action="app_access.update", object_id=access.public_id).exists()


def test_a_staff_user_imports_only_into_their_organizations(client, organization):
    other = OrganizationFactory(slug="other-org")
    staff = UserFactory(username="desk")
    staff.user_permissions.add(*Permission.objects.filter(content_type__app_label="otpusers"))
    organization.staff.add(staff)
    client.force_login(staff)
    preview = upload(client, "otpuser", (HEADER + "other-org,sneak@example.com,,,,,,,\n").encode())
    assert preview.context.get("confirm_form") is None
    assert not OtpUser.objects.filter(organization=other).exists()


def export(client, model: str, app: str = "otpusers", **filters) -> str:
    url = reverse(f"admin:{app}_{model}_export")
    if filters:
        url += "?" + "&".join(f"{key}={value}" for key, value in filters.items())
    response = client.post(url, {"resource": "0", "format": CSV, "export_items": []})
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


def test_exports_hold_no_code_grid_or_secret(superuser_client, organization):
    person = OtpUserFactory(organization=organization, mobile="+4915100000009")
    issued = issue(person).code
    code = last_sms_code()
    card = credential_services.card_create(person=person, actor=Actor.system("tests"))
    cells = credential_services.card_cells(card)
    api_key, token = make_api_key(organization, "mad.store.otpUsers.get")
    secret = token.split(".", 1)[1]
    files = [
        export(superuser_client, "otpuser"),
        export(superuser_client, "appaccess"),
        export(superuser_client, "auditevent"),
        export(superuser_client, "issuedcode", app="credentials"),
        export(superuser_client, "otpcard", app="credentials"),
    ]
    joined = "\n".join(files)
    assert issued.public_id in files[3] and card.ext_id in files[4] and person.email in files[0]
    for secret_value in (code, issued.code_digest, issued.code_sealed, card.grid_sealed, secret, api_key.secret_sha256):
        if secret_value:
            assert secret_value not in joined
    assert "".join(cells) not in joined.replace(",", "")


def test_audit_events_export_over_a_date_range(superuser_client, organization):
    from datetime import UTC, datetime

    person = OtpUserFactory(organization=organization)
    for day in (1, 2, 3):
        event = AuditEvent.objects.create(actor_type="system", action=f"test.day{day}", organization=organization)
        AuditEvent.objects.filter(pk=event.pk).update(created_at=datetime(2026, 4, day, 12, tzinfo=UTC))
    assert person
    csv = export(superuser_client, "auditevent", created_at_from="2026-04-02", created_at_to="2026-04-03")
    assert "test.day2" in csv and "test.day3" in csv and "test.day1" not in csv


def test_a_staff_user_exports_only_their_organizations(client, organization):
    other_person = OtpUserFactory(organization=OrganizationFactory())
    own_person = OtpUserFactory(organization=organization)
    staff = UserFactory(username="desk")
    staff.user_permissions.add(*Permission.objects.filter(content_type__app_label="otpusers"))
    organization.staff.add(staff)
    client.force_login(staff)
    csv = export(client, "otpuser")
    assert own_person.email in csv and other_person.email not in csv
