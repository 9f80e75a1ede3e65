"""The planner layers, the public layer, exports, tiles and the planner map."""

from django.urls import URLPattern, URLResolver, include, path

from geo import apis, evidence_apis, export_apis

api_urlpatterns: list[URLPattern | URLResolver] = [
    path("hotspots", apis.HotspotListApi.as_view(), name="hotspots"),
    path("places", apis.PlaceListApi.as_view(), name="places"),
    path("places/<int:place_id>", apis.PlaceDetailApi.as_view(), name="place-detail"),
    path("areas", apis.AreaListApi.as_view(), name="areas"),
    path("areas/<str:code>/summary", apis.AreaSummaryApi.as_view(), name="area-summary"),
    path(
        "areas/<str:code>/evidence", evidence_apis.EvidencePackApi.as_view(), name="area-evidence"
    ),
    path("public/hotspots", apis.PublicHotspotListApi.as_view(), name="public-hotspots"),
    path("exports", export_apis.ExportListCreateApi.as_view(), name="exports-list"),
    path("exports/<int:export_id>", export_apis.ExportDetailApi.as_view(), name="exports-detail"),
    path(
        "exports/<int:export_id>/download",
        export_apis.ExportDownloadApi.as_view(),
        name="exports-download",
    ),
    path("", include("geo.asset_urls")),
    path("", include("geo.priority_urls")),
    path("", include("geo.intervention_urls")),
]

urlpatterns: list[URLPattern | URLResolver] = [
    path("tiles/", include("geo.tiles_urls")),
    path("planner/", include("geo.planner_urls")),
    path("", include("geo.public_urls")),
]
