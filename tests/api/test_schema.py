import pytest
from django.core.management import call_command


def test_the_schema_validates_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    for path in (
        "/v1/organizations/{organizationSlug}/stores/{storeId}/otp-users",
        "/v1/organizations/{organizationSlug}/stores/{storeId}/otp-users/{otpUserId}",
    ):
        assert f"{path}:" in text


@pytest.mark.django_db
def test_schema_and_swagger_ui_are_served(client):
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/docs/").status_code == 200
