from django.urls import re_path

from otpsite.api.nevisidm import views
from otpsite.api.routers import OptionalSlashRouter

router = OptionalSlashRouter()
router.register(
    r"nevisidm/api/core/v1/(?P<clientExtId>[^/]+)/users/(?P<userExtId>[^/]+)/otp-credentials",
    views.OtpCredentialViewSet,
    basename="nevisidm-otp-credential",
)

urlpatterns = [
    *router.urls,
    re_path(
        r"^nevisidm/api/auth/v1/(?P<clientExtId>[^/]+)/users/(?P<userExtId>[^/]+)/otp/challenge/?$",
        views.OtpAuthViewSet.as_view({"post": "challenge"}),
        name="nevisidm-otp-challenge",
    ),
    re_path(
        r"^nevisidm/api/auth/v1/(?P<clientExtId>[^/]+)/users/(?P<userExtId>[^/]+)/otp/login/?$",
        views.OtpAuthViewSet.as_view({"post": "login"}),
        name="nevisidm-otp-login",
    ),
]
