"""``GET /tiles/<layer>/<z>/<x>/<y>.mvt``: the layers as Mapbox Vector Tiles.

Thin shells over ``geo.tiles.tile_answer``: parse z/x/y and the filters (a 400 naming the
parameter), authorise (planner layers as the JSON API: ``IsPlanner``), answer with the
tile and its caching headers.
"""

from typing import Any, ClassVar

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from geo.access import IsPlanner, planner_scope
from geo.apis import FILTER_PARAMETERS, resolution_parameter
from geo.asset_layers import parse_need
from geo.coverage import Need
from geo.filters import parse_layer_filters
from geo.tiles import (
    CAMERAS,
    COVERAGE_GAPS,
    HOTSPOTS,
    INTERVENTIONS,
    MAX_ZOOM,
    MEDIA_TYPE,
    PLACES,
    PUBLIC_HOTSPOTS,
    REPORTS,
    STREETLIGHTS,
    Layer,
    TileAnswer,
    tile_answer,
    tile_errors,
)
from streetsafe.errors import ErrorSerializer

# As geo.tiles.tile_errors reads them: x and y run to 2^z - 1, which a schema can only
# bound at the deepest zoom.
_TILE_INDEX = {"type": "integer", "minimum": 0, "maximum": (1 << MAX_ZOOM) - 1}
_PATH = [
    OpenApiParameter(
        "z",
        {"type": "integer", "minimum": 0, "maximum": MAX_ZOOM},
        OpenApiParameter.PATH,
        description=f"Zoom, 0 to {MAX_ZOOM}.",
    ),
    OpenApiParameter("x", _TILE_INDEX, OpenApiParameter.PATH, description="0 to 2^z - 1."),
    OpenApiParameter("y", _TILE_INDEX, OpenApiParameter.PATH, description="0 to 2^z - 1."),
]
_FILTERS = {
    **FILTER_PARAMETERS,
    "resolution": resolution_parameter("the zoom's (TILES_HOTSPOT_ZOOMS) when not given."),
    "intervention": OpenApiParameter(
        "intervention",
        OpenApiTypes.STR,
        enum=[need.value for need in Need],
        description="The intervention whose coverage is measured; lighting when not given.",
    ),
}
_TILE_RESPONSES: dict[Any, Any] = {
    (200, MEDIA_TYPE): OpenApiResponse(OpenApiTypes.BINARY, description="The tile."),
    204: OpenApiResponse(description="An empty tile: nothing there, or outside the data."),
    304: OpenApiResponse(description="Not modified (If-None-Match matched the ETag)."),
    400: OpenApiResponse(ErrorSerializer, description="A bad z, x, y or filter, named."),
}
_PLANNER_RESPONSES = {
    **_TILE_RESPONSES,
    401: OpenApiResponse(ErrorSerializer, description="Not signed in."),
    403: OpenApiResponse(ErrorSerializer, description="Not a planner."),
}


def _schema(layer: Layer, description: str, extra: tuple[str, ...] = ()) -> Any:
    return extend_schema_view(
        get=extend_schema(
            operation_id=f"tiles_{layer.name.replace('-', '_')}",
            summary=f"{layer.name} as Mapbox Vector Tiles",
            description=description,
            parameters=_PATH + [_FILTERS[name] for name in (*extra, *layer.params)],
            responses=_PLANNER_RESPONSES if layer.planners_only else _TILE_RESPONSES,
            tags=["tiles"],
        )
    )


class _TileApi(APIView):
    layer: ClassVar[Layer]
    permission_classes = [IsPlanner]
    renderer_classes = [JSONRenderer]

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # Errors are JSON whatever the client accepts (a map asks for tiles with its own
        # Accept header, which must not make a 406); a tile is a plain HttpResponse.
        renderer = JSONRenderer()
        return renderer, renderer.media_type

    def get(self, request: Request, z: str, x: str, y: str) -> HttpResponse:
        tile, errors = tile_errors(z, x, y)
        if tile is None:
            raise ValidationError(errors)
        scope = planner_scope(request) if self.layer.planners_only else None
        # Every faulty parameter named at once, the intervention's with the filters'.
        faults: dict[str, Any] = {}
        need = None
        if self.layer is COVERAGE_GAPS:
            try:
                need = parse_need(request.query_params)
            except ValidationError as error:
                faults.update(error.detail)  # type: ignore[arg-type]
        try:
            filters = parse_layer_filters(
                request.query_params,
                allowed=self.layer.params,
                area_ids=scope.area_ids if scope is not None else None,
            )
        except ValidationError as error:
            faults.update(error.detail)  # type: ignore[arg-type]
        if faults:
            raise ValidationError(faults)
        answer = tile_answer(
            layer=self.layer,
            tile=tile,
            filters=filters,
            scope=scope,
            need=need,
            if_none_match=request.headers.get("If-None-Match"),
        )
        return self._response(answer)

    def _response(self, answer: TileAnswer) -> HttpResponse:
        if answer.status == 200:
            response = HttpResponse(answer.body, content_type=MEDIA_TYPE)
        else:
            response = HttpResponse(status=answer.status)
        if answer.etag is not None:
            response["ETag"] = answer.etag
        visibility = "private" if self.layer.planners_only else "public"
        response["Cache-Control"] = f"{visibility}, max-age={settings.TILES_MAX_AGE_SECONDS}"
        if self.layer.planners_only:
            response["Vary"] = "Authorization, Cookie"
        return response


@_schema(
    HOTSPOTS,
    "Planners only. Hotspot hexagons of the live generation within your areas, at the "
    "resolution the zoom calls for (or `resolution`). Properties: id, i, j, resolution, "
    "gi_class, gi_z, unsafe, safe, reports, score, trend.",
)
class HotspotTileApi(_TileApi):
    layer = HOTSPOTS


@_schema(
    REPORTS,
    "Planners only. Report points (id, feeling, severity, band, reasons) where a tile "
    "holds at most TILES_MAX_FEATURES of them from TILES_REPORT_POINTS_MIN_ZOOM on; "
    "otherwise points counting the reports of a grid cell (count, unsafe, safe). Never "
    "free text. Reports as of the live hotspot generation.",
)
class ReportTileApi(_TileApi):
    layer = REPORTS


@_schema(
    PLACES,
    "Planners only. Places (DBSCAN clusters) as hulls from TILES_PLACE_HULLS_MIN_ZOOM on, "
    "as centroids below. Properties: id, label, report_count, top_reasons, night_share.",
)
class PlaceTileApi(_TileApi):
    layer = PLACES


@_schema(
    PUBLIC_HOTSPOTS,
    "Anyone, as /api/v1/public/hotspots: hexagons of the coarsest resolution only, and "
    "only those with at least K_ANONYMITY unsafe reports. Properties: resolution, unsafe.",
)
class PublicHotspotTileApi(_TileApi):
    layer = PUBLIC_HOTSPOTS
    permission_classes = [AllowAny]
    authentication_classes = []


@_schema(
    STREETLIGHTS,
    "Planners only. Street lights inside your areas, whoever owns them: each (id, working, "
    "label, lamp_type, wattage) where a tile holds at most TILES_MAX_FEATURES of them from "
    "TILES_ASSET_POINTS_MIN_ZOOM on; otherwise points counting the lights of a grid cell "
    "(count, working, faulty). Changes as soon as any asset does.",
)
class StreetlightTileApi(_TileApi):
    layer = STREETLIGHTS


@_schema(
    CAMERAS,
    "Planners only. Cameras inside your areas, whoever owns them: each (id, working, label, "
    "kind, range_m), or counted in cells (count, working, faulty) as street lights are.",
)
class CameraTileApi(_TileApi):
    layer = CAMERAS


@_schema(
    COVERAGE_GAPS,
    "Planners only. Hexagons (at the resolution the zoom calls for, as hotspots, or "
    "`resolution`) where reports inside your areas ask for the intervention and no working "
    "light (within LIGHT_RADIUS_M) or public-space camera (within CAMERA_RADIUS_M) covers "
    "them. Properties: i, j, resolution, uncovered (weighted demand left), "
    "uncovered_reports, covered (weighted demand already covered), covered_reports. "
    "Reports as of the live hotspot generation, assets as of now.",
    extra=("intervention",),
)
class CoverageGapTileApi(_TileApi):
    layer = COVERAGE_GAPS


@_schema(
    INTERVENTIONS,
    "Planners only. Interventions in your areas (by anyone) and your organisation's own: "
    "points with id, kind, date (YYYY-MM-DD; later than today means planned), radius_m and "
    "cost. Never the note.",
)
class InterventionTileApi(_TileApi):
    layer = INTERVENTIONS
