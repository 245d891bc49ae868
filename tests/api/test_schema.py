import pytest
from django.core.management import call_command


def test_the_schema_validates_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    for path in (
        "/v1/organizations/{organizationSlug}/stores/{storeId}/otp-users",
        "/v1/organizations/{organizationSlug}/stores/{storeId}/otp-users/{otpUserId}",
        "/v2/otp",
        "/v2/otp/generate",
        "/v2/otp/validate",
        "/v3/oauth/token/generate",
        "/v1/organizations/{organizationId}/stores",
        "/v1/organizations/{organizationId}/stores/{storeId}/pubApps",
        "/v1/organizations/{organizationId}/stores/{storeId}/pubApps/{publishedApplicationId}",
    ):
        assert f"  {path}:" in text
    # The Capillary error table is in the schema, each code with its HTTP status.
    assert "`9001` No valid OTP found." in text and "`606` Unable to generate OTP at the moment" in text
    # Capillary's OAuth token and attribution headers.
    assert "name: X-CAP-API-OAUTH-TOKEN" in text and "name: X-CAP-API-ATTRIBUTION-LOOKUP-TYPE" in text
    assert "`1061` X-CAP-API-ATTRIBUTION-LOOKUP-TYPE" in text


@pytest.mark.django_db
def test_schema_and_swagger_ui_are_served(client, settings):
    settings.OTPSITE_API_DOCS_PUBLIC = True
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/docs/").status_code == 200
