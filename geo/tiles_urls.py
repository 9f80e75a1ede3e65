"""``/tiles/<layer>/<z>/<x>/<y>.mvt``. z, x and y are matched as any text so that a bad
one is a 400 naming it, not a 404."""

from django.urls import re_path

from geo import tile_apis

_ZXY = r"(?P<z>[^/]+)/(?P<x>[^/]+)/(?P<y>[^/]+)\.mvt$"

urlpatterns = [
    re_path(rf"^hotspots/{_ZXY}", tile_apis.HotspotTileApi.as_view(), name="tiles-hotspots"),
    re_path(rf"^reports/{_ZXY}", tile_apis.ReportTileApi.as_view(), name="tiles-reports"),
    re_path(rf"^places/{_ZXY}", tile_apis.PlaceTileApi.as_view(), name="tiles-places"),
    re_path(
        rf"^streetlights/{_ZXY}", tile_apis.StreetlightTileApi.as_view(), name="tiles-streetlights"
    ),
    re_path(rf"^cameras/{_ZXY}", tile_apis.CameraTileApi.as_view(), name="tiles-cameras"),
    re_path(
        rf"^coverage-gaps/{_ZXY}",
        tile_apis.CoverageGapTileApi.as_view(),
        name="tiles-coverage-gaps",
    ),
    re_path(
        rf"^interventions/{_ZXY}",
        tile_apis.InterventionTileApi.as_view(),
        name="tiles-interventions",
    ),
    re_path(
        rf"^public-hotspots/{_ZXY}",
        tile_apis.PublicHotspotTileApi.as_view(),
        name="tiles-public-hotspots",
    ),
]
