from django.urls import re_path

from otpsite.api.manage.views import ManageUserOtpViewSet

urlpatterns = [
    re_path(
        r"^manage/v2/user/validate/otp/?$",
        ManageUserOtpViewSet.as_view({"post": "validate_otp"}),
        name="manage-validate-otp",
    ),
    re_path(r"^manage/v2/user/send/otp/?$", ManageUserOtpViewSet.as_view({"post": "send_otp"}), name="manage-send-otp"),
]
