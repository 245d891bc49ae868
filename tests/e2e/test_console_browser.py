"""The staff console in Chromium, as staff use it: the dashboard and its links, unlocking a card from its
page, importing people from a CSV (a bad row first), exporting audit events for a date range, rotating an
API key, and a staff user of one organization finding no trace of another. Screenshots of each step go to
test-artifacts/e2e/."""

import io
import re
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.utils import timezone

from credentials.choices import CardState
from credentials.models import OtpCard
from otpusers.models import ApiKey, AuditEvent, Organization, OtpUser
from tests.e2e.conftest import admin_sign_in
from tests.factories import AppAccessFactory, OrganizationFactory, OtpUserFactory, UserFactory, make_api_key

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "correct horse battery staple"


@pytest.fixture
def demo():
    call_command("seed_demo", "--base-url", "http://testserver", stdout=io.StringIO())
    UserFactory(username="staff", is_superuser=True)
    return Organization.objects.get(slug="acme")


@pytest.fixture
def staff_page(live_server, chromium, demo):
    page = chromium.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True).new_page()
    admin_sign_in(page, live_server.url, "staff", PASSWORD)
    return page


def rows(page) -> int:
    return page.locator("#result_list tbody tr").count()


def test_the_dashboard_shows_the_demos_figures_and_its_links_open_the_filtered_lists(staff_page, screenshots):
    page = staff_page
    page.wait_for_selector("#dashboard canvas")
    screenshots(page, "dashboard")
    assert page.locator("canvas[data-type=line]").count() == 1 and page.locator("canvas[data-type=bar]").count() == 1
    issued = page.locator("[data-figure='Codes issued'] a")
    today, thirty_days = int(issued.nth(0).inner_text()), int(issued.nth(2).inner_text())
    assert 0 < today <= thirty_days and thirty_days > 300
    issued.nth(0).click()
    page.wait_for_url("**/credentials/issuedcode/?created_at__gte=*")
    screenshots(page, "dashboard-link-codes-issued-today")
    assert rows(page) == min(today, 100)
    page.go_back()
    # Per surface and scope: the Capillary row's verifications over 30 days open the audit trail filtered
    # to what they count.
    capillary = page.locator("#dashboard-surfaces tr[data-surface='Capillary'][data-scope='All scopes'] a")
    verified = int(capillary.nth(5).inner_text())
    assert verified > 0
    capillary.nth(5).click()
    page.wait_for_url("**/otpusers/auditevent/?*surface=capillary*")
    screenshots(page, "dashboard-link-capillary-verified")
    assert rows(page) == min(verified, 100)
    assert set(page.locator("#result_list tbody td.field-action").all_inner_texts()) == {"code.verify"}
    page.go_back()
    page.click("#dashboard-states a[href*='state__exact=tmp-locked']")
    page.wait_for_url("**/credentials/otpcard/?state__exact=tmp-locked")
    screenshots(page, "dashboard-link-locked-cards")
    assert rows(page) == 1 and "Temporarily locked" in page.locator("#result_list").inner_text()
    # The page stays in the theme the user picks.
    page.emulate_media(color_scheme="dark")
    page.goto(page.url.split("/admin/")[0] + "/admin/")
    screenshots(page, "dashboard-dark")


def test_unlock_a_card_from_its_own_page(staff_page, screenshots, demo):
    page = staff_page
    card = OtpCard.objects.get(organization=demo, state=CardState.TMP_LOCKED)
    base = page.url.split("/admin/")[0]
    page.goto(f"{base}/admin/credentials/otpcard/{card.pk}/change/")
    screenshots(page, "card-page")
    page.click("a[href$='/unlock/']")
    page.wait_for_selector("#object-action-form")
    assert page.get_attribute("#id_reason", "required") is not None  # no unlock without a reason
    page.fill("#id_reason", "Called the help desk, identity checked")
    screenshots(page, "card-unlock-reason")
    page.click("#object-action-form button[type=submit]")
    page.get_by_text("Unlock (set active): done.").wait_for()
    screenshots(page, "card-unlocked")
    card.refresh_from_db()
    assert card.state == CardState.ACTIVE and card.state_change_reason == "Called the help desk, identity checked"
    assert AuditEvent.objects.filter(action="card.update", object_id=card.public_id, user__username="staff").exists()
    page.goto(f"{base}/admin/credentials/otpcard/{card.pk}/print/")
    page.locator("button[data-print]").wait_for()  # its own page, under the same policy (no inline handler)
    page.goto(f"{base}/admin/credentials/otpcard/{card.pk}/history/")
    screenshots(page, "card-history")
    history = page.locator("#audit-history").inner_text()
    assert "card.update" in history and "Called the help desk" in history and "staff" in history


def test_import_people_a_bad_row_first_then_the_fixed_file(staff_page, screenshots, tmp_path):
    page = staff_page
    base = page.url.split("/admin/")[0]
    header = "organization,email,mobile,user_name,first_name,last_name\n"
    bad = tmp_path / "people.csv"
    bad.write_text(header + "acme,fay@example.com,+4915120000001,fay,Fay,Doe\nacme,not-an-email,,,Gus,Bad\n")
    page.goto(f"{base}/admin/otpusers/otpuser/import/")
    page.set_input_files("#id_import_file", str(bad))
    page.select_option("#id_format", label="csv")
    screenshots(page, "import-form")
    page.click("button:has-text('Submit')")
    page.get_by_text("Enter a valid email address").first.wait_for()
    screenshots(page, "import-preview-bad-row")
    body = page.content()
    assert re.search(r"Line number:?\s*2", body) or re.search(r">\s*2\s*<", body)
    assert page.locator("button:has-text('Confirm import')").count() == 0
    assert not OtpUser.objects.filter(email="fay@example.com").exists()

    fixed = tmp_path / "people-fixed.csv"
    fixed.write_text(header + "acme,fay@example.com,+4915120000001,fay,Fay,Doe\nacme,gus@example.com,,,Gus,Good\n")
    page.goto(f"{base}/admin/otpusers/otpuser/import/")
    page.set_input_files("#id_import_file", str(fixed))
    page.select_option("#id_format", label="csv")
    page.click("button:has-text('Submit')")
    page.locator("button:has-text('Confirm import')").wait_for()
    screenshots(page, "import-preview-clean")
    assert not OtpUser.objects.filter(email="fay@example.com").exists()
    page.click("button:has-text('Confirm import')")
    page.get_by_text("Import finished").first.wait_for()
    screenshots(page, "import-done")
    assert set(
        OtpUser.objects.filter(email__in=["fay@example.com", "gus@example.com"]).values_list("first_name", flat=True)
    ) == {"Fay", "Gus"}
    assert AuditEvent.objects.filter(action="otp_user.create", user__username="staff").count() == 2


def test_export_audit_events_for_a_date_range(staff_page, screenshots):
    page = staff_page
    base = page.url.split("/admin/")[0]
    today = timezone.now().date()
    first, last = today - timedelta(days=3), today - timedelta(days=2)
    page.goto(f"{base}/admin/otpusers/auditevent/?created_at_from={first.isoformat()}&created_at_to={last.isoformat()}")
    screenshots(page, "audit-date-range")
    export_link = page.locator("a[href*='/auditevent/export/']")
    export_link.first.click()
    page.wait_for_selector("#id_format")
    page.select_option("#id_format", label="csv")
    screenshots(page, "audit-export-form")
    with page.expect_download() as download:
        page.click("button:has-text('Submit')")
    lines = open(download.value.path(), encoding="utf-8-sig").read().strip().splitlines()
    assert lines[0].startswith("created_at,organization,actor_type")
    days = {line[:10] for line in lines[1:]}
    assert days and days <= {first.isoformat(), last.isoformat()}, days


def test_rotate_an_api_key_and_use_the_new_secret(staff_page, screenshots, demo, live_server):
    page = staff_page
    base = live_server.url
    api_key, old_token = make_api_key(demo, "mad.store.otpUsers.list", name="Mobile team key")
    store = demo.stores.get()
    url = f"{base}/v1/organizations/{demo.slug}/stores/{store.public_id}/otp-users"

    def status(token: str) -> int:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})) as r:
                return r.status
        except urllib.error.HTTPError as error:
            return error.code

    assert status(old_token) == 200
    page.goto(f"{base}/admin/otpusers/apikey/{api_key.pk}/change/")
    screenshots(page, "key-page")
    page.click("a[href$='/rotate/']")
    page.get_by_text("stops working at once").wait_for()
    page.click("#object-action-form button[type=submit]")
    page.wait_for_selector("#issued-token")
    screenshots(page, "key-rotated-secret-shown-once")
    new_token = page.input_value("#issued-token")
    assert new_token != old_token and new_token.startswith(api_key.key_id + ".")
    assert status(new_token) == 200 and status(old_token) == 401
    page.goto(f"{base}/admin/otpusers/apikey/{api_key.pk}/change/")
    assert new_token.split(".", 1)[1] not in page.content()
    assert ApiKey.objects.get(pk=api_key.pk).revoked_at is None


def test_a_staff_user_of_one_organization_finds_no_trace_of_another(live_server, chromium, screenshots, demo):
    secret = OrganizationFactory(name="Zeta Secret Corp", slug="zeta-secret")
    hidden = AppAccessFactory(
        published_application__store__organization=secret,
        published_application__name="Zeta Secret App",
        otp_user__email="hidden.person@zeta.example",
        otp_user__first_name="Secret",
    )
    make_api_key(secret, "mad.store.otpUsers.get", name="Zeta Secret integration key")
    OtpUserFactory(organization=secret, email="another.hidden@zeta.example")
    desk = UserFactory(username="acme-desk")
    desk.user_permissions.add(*Permission.objects.filter(content_type__app_label__in=["otpusers", "credentials"]))
    demo.staff.add(desk)
    page = chromium.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    admin_sign_in(page, live_server.url, "acme-desk", PASSWORD)
    traces = ("Zeta", "zeta", hidden.otp_user.email, hidden.public_id)
    visited = ["/admin/"]
    for model in ("organization", "store", "publishedapplication", "otpuser", "appaccess", "apikey", "auditevent"):
        # Each search would find the other organization's object, were it visible (the term itself is echoed).
        visited += [f"/admin/otpusers/{model}/", f"/admin/otpusers/{model}/?q=Secret"]
    for model in ("issuedcode", "otpcard", "cardpolicy"):
        visited += [f"/admin/credentials/{model}/", f"/admin/credentials/{model}/?q=Secret"]
    visited += [
        "/admin/otpusers/appaccess/add/",
        "/admin/autocomplete/?app_label=otpusers&model_name=appaccess&field_name=published_application&term=Secret",
        "/admin/autocomplete/?app_label=otpusers&model_name=appaccess&field_name=otp_user&term=hidden",
        f"/admin/otpusers/otpuser/{hidden.otp_user.pk}/change/",
        f"/admin/otpusers/organization/{secret.pk}/change/",
    ]
    for path in visited:
        page.goto(live_server.url + path)
        content = page.content()
        assert not any(trace in content for trace in traces), path
    page.goto(live_server.url + "/admin/otpusers/otpuser/")
    screenshots(page, "staff-of-acme-people")
