"""The planner layers and the public layer as GeoJSON, and the areas a planner can see.

Thin: read the filters (``geo.filters``), the planner's scope (``geo.access``), call a
selector, serialise. Every planner endpoint answers a planner of another organisation as
if what lies outside their areas did not exist, and refuses anyone who is not a planner.
"""

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.contrib.gis.db.models.functions import Envelope
from django.db.models import F, QuerySet
from django.http import Http404
from django.utils.functional import lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_gis.fields import GeometryField
from rest_framework_gis.serializers import GeoFeatureModelSerializer

from geo.access import IsPlanner, PlannerScope, planner_scope
from geo.filters import (
    CLASS_ALIASES,
    HOTSPOT_PARAMS,
    PLACE_PARAMS,
    LayerFilters,
    parse_layer_filters,
)
from geo.hotspots.aggregate import BANDS
from geo.models import Area, HotspotCell, Place
from geo.selectors import (
    BAND_NAMES,
    area_summary,
    live_place,
    place_summary,
    planner_hotspot_cells,
    planner_places,
    public_hotspot_cells,
)
from reports.reasons import REASON_CODES
from streetsafe.errors import ErrorSerializer
from streetsafe.pagination import MAX_DIGITS

planner_errors = {
    400: OpenApiResponse(ErrorSerializer, description="A malformed filter; `errors` names it."),
    401: OpenApiResponse(ErrorSerializer, description="No credentials: log in or send a token."),
    403: OpenApiResponse(ErrorSerializer, description="Not a planner of an organisation."),
}

# The filters as ``geo.filters`` reads them: the same values and bounds, so that a client
# built from the schema sends nothing the parser refuses. A few rules join two parameters
# (since before until, a box's minimum below its maximum) and are only described.


def _resolutions() -> list[int]:
    return list(settings.HOTSPOT_RESOLUTIONS)


# Read when the schema is generated: settings are not read at import.
_RESOLUTIONS = lazy(_resolutions, list)()

# A longitude from -180 to 180 and a latitude from -90 to 90, in plain decimals.
_LONGITUDE = r"-?(180(\.0+)?|(1[0-7][0-9]|[1-9]?[0-9])(\.[0-9]+)?)"
_LATITUDE = r"-?(90(\.0+)?|[1-8]?[0-9](\.[0-9]+)?)"
_BBOX_PATTERN = rf"^{_LONGITUDE},{_LATITUDE},{_LONGITUDE},{_LATITUDE}$"

# A date (local) or a date-time, as geo.filters reads since and until.
_DATE_OR_DATE_TIME = {
    "anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]
}


def listed_parameter(name: str, values: Sequence[str], description: str) -> OpenApiParameter:
    """A parameter taking one or more of ``values``, comma-separated (or repeated)."""
    return OpenApiParameter(
        name,
        OpenApiTypes.STR,
        many=True,
        style="form",
        explode=False,
        enum=values,
        description=description,
    )


def resolution_parameter(when_not_given: str) -> OpenApiParameter:
    return OpenApiParameter(
        "resolution",
        OpenApiTypes.INT,
        enum=_RESOLUTIONS,
        description=f"Hexagon width in metres, one of HOTSPOT_RESOLUTIONS; {when_not_given}",
    )


FILTER_PARAMETERS = {
    "resolution": resolution_parameter("HOTSPOT_EMERGING_RESOLUTION (200) when not given."),
    "reasons": listed_parameter(
        "reasons",
        REASON_CODES,
        "Reason codes, comma-separated: reports with any of them. Cells then carry that "
        "slice's own counts and Gi*.",
    ),
    "time_band": OpenApiParameter(
        "time_band",
        OpenApiTypes.STR,
        enum=BANDS,
        description="When the reports were felt: day (07-19), evening (19-23), night "
        "(23-07) or unknown.",
    ),
    "since": OpenApiParameter(
        "since",
        _DATE_OR_DATE_TIME,
        description="From this date (YYYY-MM-DD, local midnight) or ISO 8601 date-time; "
        "when felt, else when received.",
    ),
    "until": OpenApiParameter(
        "until",
        _DATE_OR_DATE_TIME,
        description="Up to and including this date, or before this date-time; after since.",
    ),
    "area": OpenApiParameter(
        "area", OpenApiTypes.STR, description="The code of an area your organisation covers."
    ),
    "in_bbox": OpenApiParameter(
        "in_bbox",
        OpenApiTypes.STR,
        pattern=_BBOX_PATTERN,
        description="min lon,min lat,max lon,max lat (WGS84 degrees), each minimum below "
        "its maximum.",
        examples=[OpenApiExample("Shrewsbury", value="-2.80,52.68,-2.72,52.73")],
    ),
    "class": listed_parameter(
        "class",
        [*(str(value) for value in HotspotCell.Class.values), *CLASS_ALIASES],
        "Gi* classes, comma-separated: -3..3 (cold to hot at 99/95/90%, 0 not significant), "
        "or hot (1 to 3), cold (-3 to -1).",
    ),
}


def filter_parameters(names: tuple[str, ...]) -> list[OpenApiParameter]:
    return [FILTER_PARAMETERS[name] for name in names]


# The largest page number or size the API reads (streetsafe.pagination.whole_number).
LARGEST_PAGE_NUMBER = 10**MAX_DIGITS - 1


page_errors = {
    404: OpenApiResponse(
        ErrorSerializer, description="A page past the last; `detail` says which is the last."
    ),
}


def page_parameters(size: str, *, most: int = LARGEST_PAGE_NUMBER) -> list[OpenApiParameter]:
    """``page`` and ``page_size`` as ``streetsafe.pagination.PagePagination`` reads them;
    ``size`` says what a page holds. A size above the most a page holds is taken as that
    most, so only the number of digits bounds it, unless ``most`` is a hard limit."""
    return [
        OpenApiParameter(
            "page",
            {"type": "integer", "minimum": 1, "maximum": LARGEST_PAGE_NUMBER},
            description="Page number, from 1.",
        ),
        OpenApiParameter(
            "page_size", {"type": "integer", "minimum": 1, "maximum": most}, description=size
        ),
    ]


class PlannerApi(APIView):
    """A planner's endpoint: session (the web map) or token (QGIS, scripts)."""

    permission_classes = [IsPlanner]

    @property
    def scope(self) -> PlannerScope:
        found = planner_scope(self.request)
        assert found is not None  # IsPlanner let the request in
        return found

    def filters(self, allowed: tuple[str, ...]) -> LayerFilters:
        return parse_layer_filters(
            self.request.query_params, allowed=allowed, area_ids=self.scope.area_ids
        )


def _too_many(count: int) -> ValidationError:
    return ValidationError(
        {
            "in_bbox": [
                f"Over {count} cells match: give a smaller in_bbox, an area or a coarser "
                "resolution, or use the vector tiles for a whole-map view."
            ]
        }
    )


@extend_schema_field(
    {
        "type": "object",
        "description": "A GeoJSON Polygon in WGS84.",
        "properties": {
            "type": {"type": "string", "enum": ["Polygon"]},
            "coordinates": {
                "type": "array",
                "items": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
            },
        },
    }
)
class ComputedPolygonField(GeometryField):
    """A polygon the query computes: not a model field."""


class ComputedPolygonFeatureSerializer(GeoFeatureModelSerializer):
    """A Feature whose polygon the query computes (``geo.schema`` documents it)."""


# Hotspots


class HotspotCellSerializer(ComputedPolygonFeatureSerializer):
    hexagon = ComputedPolygonField(read_only=True)
    area = serializers.CharField(source="area_code", allow_null=True, read_only=True)
    class_label = serializers.CharField(source="get_gi_class_display", read_only=True)
    reason_counts = serializers.SerializerMethodField(
        help_text="Unsafe reports by reason (a report may give several)."
    )
    band_counts = serializers.SerializerMethodField(
        help_text="Unsafe reports by when they were felt."
    )

    class Meta:
        model = HotspotCell
        geo_field = "hexagon"
        fields = [
            "id",
            "resolution",
            "i",
            "j",
            "area",
            "unsafe",
            "safe",
            "reports",
            "score",
            "gi_z",
            "gi_p",
            "gi_class",
            "class_label",
            "reason_counts",
            "band_counts",
            "trend",
            "trend_tau",
            "trend_p",
        ]

    def get_reason_counts(self, cell: HotspotCell) -> dict[str, int]:
        return dict(zip(REASON_CODES, cell.reason_counts, strict=True))

    def get_band_counts(self, cell: HotspotCell) -> dict[str, int]:
        return dict(zip(BAND_NAMES, cell.band_counts, strict=True))


def _with_area_code(cells: QuerySet[HotspotCell]) -> QuerySet[HotspotCell]:
    return cells.annotate(area_code=F("area__code"))


class HotspotListApi(PlannerApi):
    @extend_schema(
        operation_id="hotspots_list",
        summary="Hotspot cells",
        description=(
            "The live analysis's hexagon cells of one resolution with their counts, Getis-Ord "
            "Gi* z-score, p-value and class, and emerging trend, inside your organisation's "
            "areas. A GeoJSON FeatureCollection; at most `HOTSPOTS_MAX_CELLS` cells (a 400 "
            "asks for a smaller box beyond that)."
        ),
        parameters=filter_parameters(HOTSPOT_PARAMS),
        responses={200: HotspotCellSerializer(many=True), **planner_errors},
        tags=["planner layers"],
    )
    def get(self, request: Request) -> Response:
        filters = self.filters(HOTSPOT_PARAMS)
        cap = settings.HOTSPOTS_MAX_CELLS
        cells = list(
            _with_area_code(planner_hotspot_cells(filters=filters, area_ids=self.scope.area_ids))[
                : cap + 1
            ]
        )
        if len(cells) > cap:
            raise _too_many(cap)
        return Response(HotspotCellSerializer(cells, many=True).data)


# Places


class PlaceSerializer(GeoFeatureModelSerializer):
    area = serializers.CharField(source="area_code", allow_null=True, read_only=True)
    centroid = GeometryField(read_only=True)

    class Meta:
        model = Place
        geo_field = "hull"
        fields = [
            "id",
            "label",
            "area",
            "report_count",
            "top_reasons",
            "night_share",
            "score",
            "centroid",
        ]


class PlaceListApi(PlannerApi):
    @extend_schema(
        operation_id="places_list",
        summary="Places",
        description=(
            "The live analysis's places (DBSCAN clusters of unsafe reports) inside your "
            "organisation's areas, biggest first: each a hull polygon with its label, count, "
            "most common reasons and the share felt at night."
        ),
        parameters=filter_parameters(PLACE_PARAMS),
        responses={200: PlaceSerializer(many=True), **planner_errors},
        tags=["planner layers"],
    )
    def get(self, request: Request) -> Response:
        filters = self.filters(PLACE_PARAMS)
        found = planner_places(filters=filters, area_ids=self.scope.area_ids).annotate(
            area_code=F("area__code")
        )
        return Response(PlaceSerializer(found, many=True).data)


class MonthlySerializer(serializers.Serializer):
    month = serializers.CharField(help_text="YYYY-MM")
    unsafe = serializers.IntegerField()


class CountsSerializer(serializers.Serializer):
    """What a summary counts: unsafe reports by reason, band and month, and their trend."""

    unsafe = serializers.IntegerField(help_text="Unsafe reports.")
    safe = serializers.IntegerField(help_text="Safe reports.")
    by_reason = serializers.DictField(child=serializers.IntegerField())
    by_band = serializers.DictField(child=serializers.IntegerField())
    monthly = serializers.SerializerMethodField(
        help_text="Unsafe reports per month, oldest first: up to twelve months."
    )
    trend = serializers.ChoiceField(choices=["rising", "falling", "no clear trend"])
    trend_p = serializers.FloatField(allow_null=True, help_text="Mann-Kendall p-value.")

    @extend_schema_field(MonthlySerializer(many=True))
    def get_monthly(self, summary: Any) -> list[dict[str, Any]]:
        return [{"month": month, "unsafe": count} for month, count in summary.monthly]


class PlaceSummarySerializer(CountsSerializer):
    id = serializers.IntegerField(source="place.id")
    label = serializers.CharField(source="place.label")  # type: ignore[assignment]
    area = serializers.CharField(source="place.area.code")
    report_count = serializers.IntegerField(
        source="place.report_count", help_text="Unsafe reports in the cluster."
    )
    night_share = serializers.FloatField(source="place.night_share")


class PlaceDetailApi(PlannerApi):
    @extend_schema(
        operation_id="places_retrieve",
        summary="One place, counted",
        description=(
            "The reports inside a place's hull: unsafe ones by reason and time band, the last "
            "twelve months and their trend (Mann-Kendall, 95%). A place that is not in the "
            "live analysis or not in your areas is a 404."
        ),
        responses={
            200: PlaceSummarySerializer,
            404: OpenApiResponse(ErrorSerializer, description="No such place that you can see."),
            **planner_errors,
        },
        tags=["planner layers"],
    )
    def get(self, request: Request, place_id: int) -> Response:
        place = live_place(place_id=place_id, area_ids=self.scope.area_ids)
        if place is None:
            raise Http404("No such place that you can see.")
        return Response(PlaceSummarySerializer(place_summary(place=place)).data)


# Areas


class AreaOutSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()
    bbox = serializers.ListField(
        child=serializers.FloatField(), help_text="[min lon, min lat, max lon, max lat]"
    )


class AreaListApi(PlannerApi):
    @extend_schema(
        operation_id="areas_list",
        summary="Your areas",
        description="The areas your organisation covers and those inside them, with extents.",
        responses={200: AreaOutSerializer(many=True), **planner_errors},
        tags=["planner layers"],
    )
    def get(self, request: Request) -> Response:
        areas = (
            Area.objects.filter(pk__in=sorted(self.scope.area_ids))
            .annotate(extent=Envelope("geom"))
            .order_by("kind", "name")
        )
        return Response(
            [
                {
                    "code": area.code,
                    "name": area.name,
                    "kind": area.kind,
                    "bbox": list(area.extent.extent),
                }
                for area in areas
            ]
        )


class TopPlaceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    label = serializers.CharField()  # type: ignore[assignment]
    reports = serializers.IntegerField()
    top_reasons = serializers.ListField(child=serializers.CharField())
    night_share = serializers.FloatField()


class AreaSummarySerializer(CountsSerializer):
    code = serializers.CharField(source="area.code")
    name = serializers.CharField(source="area.name")
    top_places = TopPlaceSerializer(many=True)


class AreaSummaryApi(PlannerApi):
    @extend_schema(
        operation_id="areas_summary",
        summary="Area summary",
        description=(
            "What a neighbourhood team reports to a parish meeting: unsafe and safe reports "
            "in the area, unsafe ones by reason and time band, the last twelve months and "
            "whether they are rising (Mann-Kendall, 95%), and the biggest places. An area "
            "your organisation does not cover is a 404, as one that does not exist."
        ),
        responses={
            200: AreaSummarySerializer,
            404: OpenApiResponse(ErrorSerializer, description="No such area that you can see."),
            **planner_errors,
        },
        tags=["planner layers"],
    )
    def get(self, request: Request, code: str) -> Response:
        area = Area.objects.filter(code=code).first()
        if area is None or area.pk not in self.scope.area_ids:
            raise Http404(f"No area with the code {code!r} that you can see.")
        return Response(AreaSummarySerializer(area_summary(area=area)).data)


# The public layer


class PublicHotspotSerializer(ComputedPolygonFeatureSerializer):
    hexagon = ComputedPolygonField(read_only=True)

    class Meta:
        model = HotspotCell
        geo_field = "hexagon"
        id_field = False
        fields = ["resolution", "unsafe"]


class PublicHotspotListApi(APIView):
    """Anyone may read it: coarse cells with enough reports in them, nothing finer."""

    authentication_classes: list = []
    permission_classes: list = []

    @extend_schema(
        operation_id="public_hotspots_list",
        summary="Where people feel unsafe (public)",
        description=(
            "Cells of the coarsest resolution only, each with its count of unsafe reports; "
            "a cell with fewer than `K_ANONYMITY` unsafe reports is left out. No report "
            "points, no free text, no statistics from which a smaller place could be "
            "worked out."
        ),
        parameters=filter_parameters(("in_bbox",)),
        responses={
            200: PublicHotspotSerializer(many=True),
            400: OpenApiResponse(ErrorSerializer, description="A malformed in_bbox."),
        },
        tags=["public"],
    )
    def get(self, request: Request) -> Response:
        filters = parse_layer_filters(request.query_params, allowed=("in_bbox",))
        cells = public_hotspot_cells(bbox=filters.bbox)
        return Response(PublicHotspotSerializer(cells, many=True).data)
