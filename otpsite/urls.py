from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from otpsite import health, metrics, staff_auth

urlpatterns = [
    path("admin/two-factor/", staff_auth.two_factor, name="staff_two_factor"),
    path("admin/two-factor/enrol/", staff_auth.two_factor_enrol, name="staff_two_factor_enrol"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("store/", include("otpsite.store.urls")),
    path("", include("otpsite.api.applivery.urls")),
    path("", include("otpsite.api.capillary.urls")),
    path("", include("otpsite.api.manage.urls")),
    path("", include("otpsite.api.nevisidm.urls")),
]

if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

handler400 = "otpsite.error_pages.bad_request"
handler500 = "otpsite.error_pages.server_error"
