from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from geo.urls import api_urlpatterns as geo_api_urlpatterns
from geo.urls import urlpatterns as geo_urlpatterns
from streetsafe.health import healthz

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/schema", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/v1/", include("reports.urls")),
    path("api/v1/", include(geo_api_urlpatterns)),
    *geo_urlpatterns,
]

handler404 = "streetsafe.errors.not_found"
handler500 = "streetsafe.errors.server_error"
