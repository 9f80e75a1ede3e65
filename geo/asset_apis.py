"""Street lights, cameras and coverage gaps as GeoJSON, for planners.

Thin: read the filters (``geo.asset_layers``, ``geo.filters``), the planner's scope
(``geo.access``), call a selector, serialise. A planner sees the assets lying inside their
organisation's areas, whoever owns them, and coverage gaps made of their areas' reports
only; a planner of another organisation sees nothing of them.
"""

from typing import Any

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework_gis.serializers import GeoFeatureModelSerializer

from geo.apis import (
    ComputedPolygonFeatureSerializer,
    ComputedPolygonField,
    PlannerApi,
    filter_parameters,
    listed_parameter,
    page_errors,
    page_parameters,
    planner_errors,
)
from geo.asset_layers import (
    ASSET_PARAMS,
    COVERAGE_GAP_PARAMS,
    coverage_gap_cells,
    parse_asset_filters,
    parse_need,
    planner_cameras,
    planner_streetlights,
)
from geo.coverage import Need
from geo.models import Camera, HotspotCell, Streetlight
from streetsafe.pagination import PagePagination

_PAGES = page_parameters(
    "Assets a page (ASSETS_PAGE_SIZE, 500; at most ASSETS_MAX_PAGE_SIZE, 5000)."
)
_WORKING = OpenApiParameter(
    "working", OpenApiTypes.BOOL, description="true: working ones only; false: faulty ones only."
)


class AssetPagination(PagePagination):
    @property
    def page_size(self) -> int:
        return settings.ASSETS_PAGE_SIZE

    @property
    def max_page_size(self) -> int:
        return settings.ASSETS_MAX_PAGE_SIZE


class _AssetListApi(PlannerApi):
    def page(self, found: Any, serializer: type[serializers.Serializer]) -> Response:
        paginator = AssetPagination()
        page = paginator.paginate_queryset(found, self.request, view=self)
        assert page is not None
        return paginator.get_paginated_response(serializer(page, many=True).data)


_OWNER_HELP = "The organisation whose register it came from; null for open data."


class StreetlightSerializer(GeoFeatureModelSerializer):
    owner = serializers.CharField(
        source="owner_name", allow_null=True, read_only=True, help_text=_OWNER_HELP
    )

    class Meta:
        model = Streetlight
        geo_field = "location"
        fields = [
            "id",
            "external_id",
            "label",
            "working",
            "lamp_type",
            "wattage",
            "owner",
            "updated_at",
        ]


class StreetlightListApi(_AssetListApi):
    @extend_schema(
        operation_id="streetlights_list",
        summary="Street lights",
        description=(
            "The street lights lying inside your organisation's areas, whoever owns them, by "
            "id, as a paginated GeoJSON FeatureCollection (`page`, `page_size`). A light "
            "counts for coverage while it works (`working`)."
        ),
        parameters=[*filter_parameters(ASSET_PARAMS), _WORKING, *_PAGES],
        responses={200: StreetlightSerializer(many=True), **planner_errors, **page_errors},
        tags=["planner layers"],
    )
    def get(self, request: Request) -> Response:
        filters = parse_asset_filters(
            request.query_params, cameras=False, area_ids=self.scope.area_ids
        )
        found = planner_streetlights(filters=filters, area_ids=self.scope.area_ids)
        return self.page(found, StreetlightSerializer)


class CameraSerializer(GeoFeatureModelSerializer):
    owner = serializers.CharField(
        source="owner_name", allow_null=True, read_only=True, help_text=_OWNER_HELP
    )

    class Meta:
        model = Camera
        geo_field = "location"
        fields = ["id", "external_id", "label", "working", "kind", "range_m", "owner", "updated_at"]


class CameraListApi(_AssetListApi):
    @extend_schema(
        operation_id="cameras_list",
        summary="Cameras",
        description=(
            "The cameras lying inside your organisation's areas, whoever owns them, by id, as "
            "a paginated GeoJSON FeatureCollection (`page`, `page_size`). Only working "
            "public-space cameras count for CCTV coverage."
        ),
        parameters=[
            *filter_parameters(ASSET_PARAMS),
            _WORKING,
            listed_parameter(
                "kind",
                Camera.Kind.values,
                f"Kinds, comma-separated: {', '.join(Camera.Kind.values)}.",
            ),
            *_PAGES,
        ],
        responses={200: CameraSerializer(many=True), **planner_errors, **page_errors},
        tags=["planner layers"],
    )
    def get(self, request: Request) -> Response:
        filters = parse_asset_filters(
            request.query_params, cameras=True, area_ids=self.scope.area_ids
        )
        found = planner_cameras(filters=filters, area_ids=self.scope.area_ids)
        return self.page(found, CameraSerializer)


class CoverageGapSerializer(ComputedPolygonFeatureSerializer):
    hexagon = ComputedPolygonField(read_only=True)
    intervention = serializers.SerializerMethodField()
    resolution = serializers.IntegerField(help_text="Hexagon width in metres.")
    i = serializers.IntegerField()
    j = serializers.IntegerField()
    uncovered = serializers.FloatField(
        help_text="Weighted demand (severity, recency) that no working asset covers."
    )
    uncovered_reports = serializers.IntegerField(help_text="Reports of that demand.")
    covered = serializers.FloatField(help_text="Weighted demand existing assets already cover.")
    covered_reports = serializers.IntegerField(help_text="Reports of that demand.")
    demand = serializers.FloatField(help_text="uncovered + covered.")
    demand_reports = serializers.IntegerField(help_text="uncovered_reports + covered_reports.")

    class Meta:
        # Only for the serializer's machinery: a cell here is worked out, never stored.
        model = HotspotCell
        geo_field = "hexagon"
        id_field = False
        fields = [
            "intervention",
            "resolution",
            "i",
            "j",
            "uncovered",
            "uncovered_reports",
            "covered",
            "covered_reports",
            "demand",
            "demand_reports",
        ]

    @extend_schema_field({"type": "string", "enum": [need.value for need in Need]})
    def get_intervention(self, cell: Any) -> str:
        return str(self.context["need"])


class CoverageGapListApi(PlannerApi):
    @extend_schema(
        operation_id="coverage_gaps_list",
        summary="Coverage gaps",
        description=(
            "Hexagon cells where unsafe reports inside your organisation's areas ask for an "
            "intervention (their reasons map to it) and no working asset covers them: for "
            "lighting, no working street light within LIGHT_RADIUS_M (25 m); for CCTV, no "
            "working public-space camera within CAMERA_RADIUS_M (50 m). Each cell has the "
            "weighted demand left uncovered and its reports, and the demand already "
            "covered; cells with nothing uncovered are left out. Weights are the hotspot "
            "scores' (severity, halved every half-life). A GeoJSON FeatureCollection, by "
            "(i, j); at most HOTSPOTS_MAX_CELLS cells (a 400 asks for a smaller box beyond)."
        ),
        parameters=[
            OpenApiParameter(
                "intervention",
                OpenApiTypes.STR,
                enum=[need.value for need in Need],
                description="lighting (the default) or cctv.",
            ),
            *filter_parameters(COVERAGE_GAP_PARAMS),
        ],
        responses={200: CoverageGapSerializer(many=True), **planner_errors},
        tags=["planner layers"],
    )
    def get(self, request: Request) -> Response:
        errors: dict[str, Any] = {}
        try:
            need = parse_need(request.query_params)
        except ValidationError as error:
            errors.update(error.detail)  # type: ignore[arg-type]
        try:
            filters = self.filters(COVERAGE_GAP_PARAMS)
        except ValidationError as error:
            errors.update(error.detail)  # type: ignore[arg-type]
        if errors:
            raise ValidationError(errors)
        cap = settings.HOTSPOTS_MAX_CELLS
        cells = coverage_gap_cells(
            need=need, filters=filters, area_ids=self.scope.area_ids, limit=cap + 1
        )
        if len(cells) > cap:
            raise ValidationError(
                {
                    "in_bbox": [
                        f"Over {cap} cells have uncovered demand: give a smaller in_bbox, an "
                        "area or a coarser resolution, or use the vector tiles."
                    ]
                }
            )
        return Response(CoverageGapSerializer(cells, many=True, context={"need": need}).data)
