"""The planner layers, the public layer, exports, tiles and the planner map."""

from django.urls import include, path

from geo import apis

api_urlpatterns = [
    path("hotspots", apis.HotspotListApi.as_view(), name="hotspots"),
    path("places", apis.PlaceListApi.as_view(), name="places"),
    path("areas", apis.AreaListApi.as_view(), name="areas"),
    path("areas/<str:code>/summary", apis.AreaSummaryApi.as_view(), name="area-summary"),
    path("public/hotspots", apis.PublicHotspotListApi.as_view(), name="public-hotspots"),
    path("exports", include("geo.exports_urls")),
]

urlpatterns = [
    path("tiles/", include("geo.tiles_urls")),
    path("planner/", include("geo.planner_urls")),
]
