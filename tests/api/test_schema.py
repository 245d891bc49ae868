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


def generated_schema() -> dict:
    import json

    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))


def resolve(schema: dict, document: dict) -> dict:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def operations(document: dict):
    for path, items in document["paths"].items():
        for method, operation in items.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield path, method, operation


def test_list_operations_document_the_object_the_server_answers():
    """Issue 10, finding 7: both list operations were documented as arrays."""
    document = generated_schema()
    for path, key in (
        ("/v1/organizations/{organizationSlug}/stores/{storeId}/otp-users", "data"),
        ("/nevisidm/api/core/v1/{clientExtId}/users/{userExtId}/otp-credentials", "items"),
    ):
        ok = document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        body = resolve(ok, document)
        assert body["type"] == "object" and key in body["properties"], body


def test_refused_unknown_properties_sizes_and_limits_are_documented():
    document = generated_schema()
    schemas = document["components"]["schemas"]
    refusing = {name for name, schema in schemas.items() if schema.get("additionalProperties") is False}
    assert {
        "GenerateOtpRequest", "ValidateOtpRequest", "ChannelRequest", "EmailTemplateRequest", "OtpUserCreateRequest",
        "OtpUserUpdateRequest", "ManageSendOtpRequest", "ManageValidateOtpRequest", "OtpCredentialCreateRequest",
        "OtpCredentialReplaceRequest", "PatchedOtpCredentialPatchRequest", "ValidityRequest", "LoginRequest",
    } <= refusing  # fmt: skip
    channels = schemas["GenerateOtpRequest"]["properties"]["channels"]
    assert (channels["minItems"], channels["maxItems"]) == (1, 4)
    parameters = {
        (path, parameter["name"]): parameter["schema"]
        for path, method, operation in operations(document)
        for parameter in operation.get("parameters", [])
        if method == "get" and parameter["in"] == "query"
    }
    applivery = "/v1/organizations/{organizationSlug}/stores/{storeId}/otp-users"
    assert parameters[(applivery, "limit")]["maximum"] == 1000
    assert parameters[(applivery, "page")]["maximum"] == 1_000_000
    nevis = "/nevisidm/api/core/v1/{clientExtId}/users/{userExtId}/otp-credentials"
    assert parameters[(nevis, "limit")]["maximum"] == 100
    assert not any(name == "format" for _, name in parameters)


def test_every_operation_documents_every_status_any_request_can_meet():
    document = generated_schema()
    for path, method, operation in operations(document):
        responses = operation["responses"]
        expected = {"400", "401", "403", "429", "503"} | ({"413"} if "requestBody" in operation else set())
        assert expected <= set(responses), (method, path, sorted(responses))
        for status in ("429", "503"):
            assert "Retry-After" in responses[status]["headers"], (method, path, status)
