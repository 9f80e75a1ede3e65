"""Asset API routes, under /api/v1/."""

from django.urls import URLPattern, path

from geo import asset_apis

urlpatterns: list[URLPattern] = [
    path("streetlights", asset_apis.StreetlightListApi.as_view(), name="streetlights"),
    path("cameras", asset_apis.CameraListApi.as_view(), name="cameras"),
    path("coverage-gaps", asset_apis.CoverageGapListApi.as_view(), name="coverage-gaps"),
]
