"""Import people and app accesses from CSV/XLSX through the services (dry-run preview naming bad rows,
all or nothing, audited), into the importer's organizations only; exports hold no secret."""

import io

import openpyxl
import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from credentials import services as credential_services
from otpusers import services as otpuser_services
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


def people(first: int, count: int, organization: str = "acme") -> str:
    return "".join(
        f"{organization},p{n}@example.com,+49152{n:08d},X{n},wx-{n},user{n},ext-{n},Anna,Import{n}\n"
        for n in range(first, first + count)
    )


def test_an_import_costs_the_same_statements_whatever_its_length(superuser_client, organization):
    """The people a file names are read once, and rows are written a thousand per statement with their
    audit events: fifty rows and a hundred take the same statements, preview and import alike."""

    def statements(rows: str) -> tuple[int, int]:
        with CaptureQueriesContext(connection) as previewing:
            preview = upload(superuser_client, "otpuser", (HEADER + rows).encode())
        assert preview.context["confirm_form"] is not None
        with CaptureQueriesContext(connection) as importing:
            assert confirm(superuser_client, "otpuser", preview).status_code == 302
        return len(previewing), len(importing)

    fifty = statements(people(0, 50))
    hundred = statements(people(50, 100))
    assert fifty == hundred and max(fifty) <= 25, (fifty, hundred)
    assert OtpUser.objects.filter(organization=organization).count() == 150
    assert AuditEvent.objects.filter(action="otp_user.create", organization=organization).count() == 150
    ana = OtpUser.objects.get(email="p120@example.com")
    assert (ana.mobile, ana.external_id, ana.wechat_id, ana.user_name, ana.ext_id, ana.last_name) == (
        "+4915200000120",
        "X120",
        "wx-120",
        "user120",
        "ext-120",
        "Import120",
    )
    audited = AuditEvent.objects.get(action="otp_user.create", object_id=str(ana.pk))
    assert audited.user.username == "root" and "ext_id" in audited.detail["fields"]


def test_a_long_file_previews_its_first_rows_and_imports_them_all(superuser_client, organization, monkeypatch):
    monkeypatch.setattr("otpusers.resources.PREVIEW_ROWS", 3)
    ana = OtpUserFactory(organization=organization, email="p1@example.com", last_name="Before")
    preview = upload(superuser_client, "otpuser", (HEADER + people(0, 8)).encode())
    body = preview.content.decode()
    assert len(preview.context["result"].valid_rows()) == 3 and "and 5 more rows, not listed here" in body
    assert "Before" in body and "Import1" in body  # the changed person's row shows the change
    assert confirm(superuser_client, "otpuser", preview).status_code == 302
    assert OtpUser.objects.filter(organization=organization).count() == 8
    assert OtpUser.objects.get(pk=ana.pk).last_name == "Import1"
    assert AuditEvent.objects.get(action="otp_user.update").detail["changed"] == [
        "ext_id",
        "external_id",
        "first_name",
        "last_name",
        "mobile",
        "user_name",
        "wechat_id",
    ]


def test_rows_clashing_with_earlier_rows_or_other_people_are_named(superuser_client, organization):
    OtpUserFactory(organization=organization, email="ana@example.com", mobile="+4915100000001", user_name="ana")
    OtpUserFactory(organization=organization, email="ben@example.com", mobile="+4915100000002", user_name="ben")
    OtpUserFactory(organization=OrganizationFactory(slug="elsewhere"), email="cy@example.com", user_name="cy")
    rows = (
        "acme,new@example.com,,,,NEW,,New,\n"
        "acme,NEW@example.com,,,,,,Twice,\n"  # the same email as the row before, in another case
        "acme,other@example.com,,,,new,,Other,\n"  # the user name of row 1
        "acme,ana@example.com,+4915100000002,,,ana,,Ana,\n"  # Ana takes Ben's mobile
        "acme,ben@example.com,+4915100000002,,,ben,,Ben,B\n"  # Ben keeps his own: fine
        "acme,cy@example.com,,,,cy,,Cy,\n"  # another organization's identifiers are free here
    )
    preview = upload(superuser_client, "otpuser", (HEADER + rows).encode())
    result = preview.context["result"]
    errors = {row.number: row.error.message_dict for row in result.invalid_rows}
    assert errors == {
        2: {"email": ["An earlier row has this email."]},
        3: {"user_name": ["An earlier row has this user name."]},
        4: {"mobile": ["Another person in this organization has this mobile."]},
    }
    assert preview.context.get("confirm_form") is None
    assert OtpUser.objects.count() == 3


def test_a_row_taken_between_preview_and_import_rolls_everything_back(superuser_client, organization):
    preview = upload(superuser_client, "otpuser", (HEADER + people(0, 5)).encode())
    assert preview.context["confirm_form"] is not None
    OtpUserFactory(organization=organization, email="meanwhile@example.com", user_name="user3")
    done = confirm(superuser_client, "otpuser", preview)
    assert done.status_code == 302 and done["Location"].endswith("/import/")
    assert "Nothing was imported: rows 4 are no longer valid" in superuser_client.get(done["Location"]).content.decode()
    assert OtpUser.objects.count() == 1 and not AuditEvent.objects.filter(action="otp_user.create").exists()


def test_a_writer_racing_the_bulk_insert_fails_the_whole_import(superuser_client, organization, monkeypatch):
    """The uniqueness checked before the insert can be overtaken: the constraints still refuse, and the
    import is all or nothing."""
    preview = upload(superuser_client, "otpuser", (HEADER + people(0, 5)).encode())
    OtpUserFactory(organization=organization, email="racer@example.com", mobile="+4915200000002")
    monkeypatch.setattr(
        "otpusers.services.otp_user_identifiers_in_use", lambda **kwargs: otpuser_services.IdentifiersInUse()
    )
    done = confirm(superuser_client, "otpuser", preview)
    assert "Nothing was imported" in superuser_client.get(done["Location"]).content.decode()
    assert OtpUser.objects.count() == 1 and not AuditEvent.objects.filter(action="otp_user.create").exists()


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
