"""Security headers on every response, and API docs served from otpsite itself (issue 10, finding 5)."""

import re

import pytest
from django.test import override_settings

from tests.factories import AppAccessFactory, UserFactory

pytestmark = pytest.mark.django_db

PAGES = ["/api/docs/", "/api/redoc/", "/api/schema/", "/admin/login/", "/v2/otp/validate", "/no-such-page/"]


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_staff=True))
    return client


@pytest.mark.parametrize("path", PAGES)
def test_every_response_carries_a_content_security_policy_and_a_permissions_policy(staff_client, path):
    response = staff_client.get(path)
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "http" not in policy and "camera=()" in response["Permissions-Policy"]
    script_src = re.search(r"script-src ([^;]*)", policy).group(1).split()
    # The staff console's Alpine.js needs eval (otpsite.middleware.StaffConsoleScriptPolicyMiddleware).
    assert script_src == (["'self'", "'unsafe-eval'"] if path.startswith("/admin/") else ["'self'"])


@pytest.mark.parametrize(
    "path",
    ["/admin/", "/admin/otpusers/otpuser/", "/admin/no-such-page/", "/admin/two-factor/", "/admin/two-factor/enrol/"],
)
def test_only_the_staff_consoles_pages_allow_eval_and_none_allows_inline_scripts(admin_client, path):
    policy = admin_client.get(path)["Content-Security-Policy"]
    assert "script-src 'self' 'unsafe-eval';" in policy + ";" and "default-src 'self'" in policy


def test_the_store_page_carries_the_headers(client):
    application = AppAccessFactory().published_application
    response = client.get(f"/store/{application.store.slug}/{application.slug}/")
    assert response.status_code == 200
    assert "script-src 'self'" in response["Content-Security-Policy"] and response["Permissions-Policy"]


def same_origin_assets(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]*)"', html)


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_docs_load_only_same_origin_assets(staff_client, path):
    response = staff_client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assets = same_origin_assets(html)
    assert assets, html
    for asset in assets:
        assert asset.startswith("/") and not asset.startswith("//"), asset
    assert "<script>" not in html  # no inline script: the policy would block it
    assert "cdn" not in html.lower() and "googleapis" not in html


def test_the_swagger_ui_assets_are_served(staff_client, settings):
    html = staff_client.get("/api/docs/").content.decode()
    script = next(asset for asset in same_origin_assets(html) if "script" in asset)
    response = staff_client.get(script)
    assert response.status_code == 200 and response["Content-Type"].startswith("application/javascript")
    assert "/api/schema/" in response.content.decode()
    from django.contrib.staticfiles import finders

    for asset in same_origin_assets(html):
        if asset.startswith(settings.STATIC_URL if settings.STATIC_URL.startswith("/") else "/static/"):
            name = asset.split("/static/", 1)[1]
            assert finders.find(name), asset


@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/", "/api/redoc/"])
def test_whether_the_docs_are_public_is_a_setting(client, path):
    with override_settings(OTPSITE_API_DOCS_PUBLIC=False):
        assert client.get(path).status_code in (401, 403)
    with override_settings(OTPSITE_API_DOCS_PUBLIC=True):
        assert client.get(path).status_code == 200
