from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyBearerScheme(OpenApiAuthenticationExtension):
    target_class = "otpsite.api.authentication.ApiKeyBearerAuthentication"
    name = "ApiKeyBearer"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An otpsite API key, `<key id>.<secret>`, as shown once when the key was made.",
        }
