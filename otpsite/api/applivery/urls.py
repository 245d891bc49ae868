from otpsite.api.applivery import views
from otpsite.api.routers import OptionalSlashRouter

router = OptionalSlashRouter()
router.register(
    r"v1/organizations/(?P<organizationSlug>[^/]+)/stores/(?P<storeId>[^/]+)/otp-users",
    views.OtpUserViewSet,
    basename="applivery-otp-user",
)

router.register(
    r"v1/organizations/(?P<organizationId>[^/]+)/stores/(?P<storeId>[^/]+)/pubApps",
    views.PublishedApplicationViewSet,
    basename="applivery-published-application",
)
router.register(r"v1/organizations/(?P<organizationId>[^/]+)/stores", views.StoreViewSet, basename="applivery-store")

urlpatterns = router.urls
