"""End to end in Chromium: staff give a person access in the admin, the person signs in on the store page
with the emailed code and downloads until the allowance is used up, and the admin and the Applivery API
show it. A screenshot of each step goes to test-artifacts/e2e/."""

import json
import re
import urllib.request

import pytest
from django.core import mail

from otpusers.models import AppAccess
from tests.delivery import run_worker
from tests.e2e.conftest import admin_save, admin_sign_in, choose_autocomplete
from tests.factories import OtpUserFactory, PublishedApplicationFactory, UserFactory, make_api_key

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "correct horse battery staple"


def test_a_person_signs_in_with_an_emailed_code_and_downloads_twice(live_server, chromium, screenshots, tmp_path):
    application = PublishedApplicationFactory(name="Acme Beta", slug="beta", store__slug="acme")
    person = OtpUserFactory(organization=application.store.organization, email="tester@example.com")
    UserFactory(username="staff", is_superuser=True)
    build = tmp_path / "acme-beta-1.0.ipa"
    build.write_bytes(b"IPA" * 1000)

    staff = chromium.new_context(viewport={"width": 1200, "height": 900}, accept_downloads=True).new_page()
    admin_sign_in(staff, live_server.url, "staff", PASSWORD, before_submit=lambda: screenshots(staff, "admin-login"))

    # The staff upload the build and give the person access with an allowance of 2.
    staff.goto(f"{live_server.url}/admin/otpusers/publishedapplication/{application.pk}/change/")
    staff.set_input_files("#id_build_file", str(build))
    admin_save(staff, "was changed successfully")
    screenshots(staff, "admin-build-uploaded")
    staff.goto(f"{live_server.url}/admin/otpusers/appaccess/add/")
    choose_autocomplete(staff, "otp_user", "tester", "tester@example.com")
    choose_autocomplete(staff, "published_application", "Acme", "Acme Beta")
    staff.fill("#id_allowed_downloads_num", "2")
    screenshots(staff, "admin-access-form")
    admin_save(staff, "was added successfully")
    screenshots(staff, "admin-access-created")
    access = AppAccess.objects.get(otp_user=person, published_application=application)
    assert access.allowed_downloads_num == 2

    # The person signs in with the code from the email and downloads.
    visitor = chromium.new_context(viewport={"width": 390, "height": 844}, accept_downloads=True).new_page()
    visitor.goto(f"{live_server.url}/store/acme/beta/")
    visitor.fill("#id_email", "tester@example.com")
    screenshots(visitor, "store-email")
    visitor.click("button[type=submit]")
    visitor.wait_for_selector("#id_code")
    screenshots(visitor, "store-code")
    run_worker()
    code = re.search(r"^\s+(\d{6})$", mail.outbox[-1].body, re.M).group(1)
    visitor.fill("#id_code", code)
    visitor.click("button:has-text('Sign in')")
    visitor.wait_for_selector("button:has-text('Download the app')")
    screenshots(visitor, "store-signed-in")
    for left in ("1 download left", None):
        with visitor.expect_download() as download:
            visitor.click("button:has-text('Download the app')")
        saved = tmp_path / f"downloaded-{left}"
        download.value.save_as(saved)
        assert saved.read_bytes() == b"IPA" * 1000
        visitor.goto(f"{live_server.url}/store/acme/beta/")
        if left:
            assert left in visitor.content()
    screenshots(visitor, "store-after-two-downloads")
    assert "You have used all 2 downloads" in visitor.content()
    assert visitor.locator("button:has-text('Download the app')").count() == 0

    # The third download is refused on the server too, not only hidden.
    refused = visitor.request.post(
        f"{live_server.url}/store/acme/beta/download/",
        headers={
            "X-CSRFToken": next(c["value"] for c in visitor.context.cookies() if c["name"] == "csrftoken"),
            "Referer": f"{live_server.url}/store/acme/beta/",
        },
    )
    assert "You have used all the downloads" in refused.text()
    access.refresh_from_db()
    assert access.downloads_used == 2 and access.last_login_at and access.last_download_at

    # The admin and the Applivery API show the sign-in and the downloads.
    staff.goto(f"{live_server.url}/admin/otpusers/appaccess/{access.pk}/change/")
    screenshots(staff, "admin-after-downloads")
    assert "Last download at" in staff.content() and access.last_download_at.strftime("%Y") in staff.content()
    _, token = make_api_key(application.store.organization, "mad.store.otpUsers.get")
    request = urllib.request.Request(
        f"{live_server.url}/v1/organizations/{application.store.organization.slug}/stores/"
        f"{application.store.public_id}/otp-users/{access.public_id}",
        headers={"Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request) as response:
        data = json.load(response)["data"]
    assert data["allowedDownloadsNum"] == 2
    assert data["lastDownloadDate"].startswith(access.last_download_at.strftime("%Y-%m-%dT%H:%M"))
    assert data["lastLoginDate"].startswith(access.last_login_at.strftime("%Y-%m-%dT%H:%M"))
