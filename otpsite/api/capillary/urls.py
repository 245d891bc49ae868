from django.urls import re_path

from otpsite.api.capillary.views import CapillaryOAuthTokenView, CapillaryOtpViewSet

urlpatterns = [
    re_path(r"^v2/otp/?$", CapillaryOtpViewSet.as_view({"get": "get_otp"}), name="capillary-get-otp"),
    re_path(r"^v2/otp/generate/?$", CapillaryOtpViewSet.as_view({"post": "generate"}), name="capillary-generate"),
    re_path(r"^v2/otp/validate/?$", CapillaryOtpViewSet.as_view({"post": "validate"}), name="capillary-validate"),
    re_path(r"^v3/oauth/token/generate/?$", CapillaryOAuthTokenView.as_view(), name="capillary-oauth-token"),
]
