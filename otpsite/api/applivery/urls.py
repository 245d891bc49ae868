from otpsite.api.applivery import views
from otpsite.api.routers import OptionalSlashRouter

router = OptionalSlashRouter()
router.register(
    r"v1/organizations/(?P<organizationSlug>[^/]+)/stores/(?P<storeId>[^/]+)/otp-users",
    views.OtpUserViewSet,
    basename="applivery-otp-user",
)

urlpatterns = router.urls
