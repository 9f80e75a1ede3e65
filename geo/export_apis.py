"""Planner exports over HTTP: ask for one, follow it, download it. Planners only.

An export belongs to the planner who asked for it, for the organisation they worked for
then: anyone else, a colleague included, is told it does not exist (404), so that ids
reveal nothing.
"""

from typing import Any

from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from geo.access import IsPlanner, PlannerScope, planner_scope
from geo.exports import CONTENT_TYPES, export_create, export_filename, export_path
from geo.filters import HOTSPOT_PARAMS, PLACE_PARAMS, REPORT_PARAMS
from geo.models import Export
from streetsafe.errors import ErrorSerializer
from streetsafe.pagination import OffsetPagination

_FILTERS_HELP = (
    "The layer filters, as the layer endpoints take them in a query string, each a string: "
    f"hotspots take {', '.join(HOTSPOT_PARAMS)}; places {', '.join(PLACE_PARAMS)}; "
    f"reports {', '.join(REPORT_PARAMS)}. Lists are comma-separated "
    '(`"reasons": "poor_lighting,isolated"`).'
)

_refused = {
    401: OpenApiResponse(ErrorSerializer, description="Not signed in."),
    403: OpenApiResponse(
        ErrorSerializer, description="Signed in, but not a planner of an organisation."
    ),
}
_not_found = {
    404: OpenApiResponse(
        ErrorSerializer, description="No export of yours with this id (others' included)."
    ),
}
_export_id = OpenApiParameter(
    "export_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The export's id."
)


class ExportInputSerializer(serializers.Serializer):
    layer = serializers.ChoiceField(choices=Export.Layer.choices)
    format = serializers.ChoiceField(
        choices=Export.Format.choices,
        help_text="csv (lists comma-separated, polygons as WKT), geojson (RFC 7946) or gpkg "
        "(GeoPackage, EPSG:4326).",
    )
    filters = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        required=False,
        default=dict,
        help_text=_FILTERS_HELP,
    )


class ExportOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    layer = serializers.ChoiceField(choices=Export.Layer.choices)
    format = serializers.ChoiceField(choices=Export.Format.choices)
    filters = serializers.DictField(
        child=serializers.CharField(),
        help_text="The filters as applied, canonical (a hotspot export names its resolution).",
    )
    status = serializers.ChoiceField(
        choices=Export.Status.choices,
        help_text="queued, then running, then ready (download it) or failed (see error); "
        "expired once its file is deleted, `EXPORT_RETENTION_DAYS` after it was written.",
    )
    progress = serializers.FloatField(help_text="0 to 1; 1 once ready.")
    row_count = serializers.IntegerField(help_text="Rows written so far; all of them once ready.")
    file_size = serializers.IntegerField(allow_null=True, help_text="Bytes, once ready.")
    filename = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField(help_text="Why it failed; empty otherwise.")
    url = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()

    @extend_schema_field(OpenApiTypes.STR)
    def get_filename(self, export: Export) -> str:
        return export_filename(export)

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, export: Export) -> str:
        return self.context["request"].build_absolute_uri(
            reverse("exports-detail", args=[export.pk])
        )

    @extend_schema_field({"type": "string", "format": "uri", "nullable": True})
    def get_download_url(self, export: Export) -> str | None:
        if export.status != Export.Status.READY:
            return None
        return self.context["request"].build_absolute_uri(
            reverse("exports-download", args=[export.pk])
        )


def _body(export: Export, request: Request) -> dict[str, Any]:
    return ExportOutputSerializer(export, context={"request": request}).data


def _scope(request: Request) -> PlannerScope:
    scope = planner_scope(request)
    assert scope is not None  # IsPlanner let the request in
    return scope


def _planner(request: Request) -> User:
    assert isinstance(request.user, User)  # IsPlanner let the request in
    return request.user


def _own_exports(request: Request) -> QuerySet[Export]:
    """The caller's exports for the organisation they work for now."""
    return Export.objects.filter(user=_planner(request), organisation=_scope(request).organisation)


def _own_export(request: Request, export_id: int) -> Export:
    # An id past a bigint's range is no one's, and must not reach the database.
    export = None if export_id >= 2**63 else _own_exports(request).filter(pk=export_id).first()
    if export is None:
        raise NotFound("No export of yours with this id.")
    return export


class ExportPagination(OffsetPagination):
    default_limit = 50
    max_limit = 200


class ExportListCreateApi(APIView):
    permission_classes = [IsPlanner]
    # Also what documents the list's envelope (count, next, previous, results).
    pagination_class = ExportPagination

    @extend_schema(
        operation_id="exports_create",
        summary="Export a layer",
        description=(
            "Exports hotspot cells, places or report points within what your organisation "
            "covers, under the same filters as the layer endpoints, as CSV, GeoJSON or "
            "GeoPackage (WGS84, EPSG:4326). Report points carry a report's text only once "
            "a moderator approved it, and then only its redacted form.\n\n"
            "An export of at most `EXPORT_INLINE_ROWS` rows (5000 by default) is written "
            "at once: 201 with `status` ready and a `download_url`. A larger one is queued "
            "for a worker: 202, and `url` (also the `Location` header) reports its "
            "`status` and `progress` until it is ready. Every export is recorded."
        ),
        request=ExportInputSerializer,
        responses={
            201: OpenApiResponse(ExportOutputSerializer, description="Written: ready."),
            202: OpenApiResponse(
                ExportOutputSerializer, description="Queued: follow `url` until ready."
            ),
            400: OpenApiResponse(
                ErrorSerializer,
                description="Invalid input; `errors` names each field (`layer`, `format`, "
                "`filters.<name>`).",
            ),
            **_refused,
            503: OpenApiResponse(
                ErrorSerializer,
                description="The export could not be written or queued just now.",
            ),
        },
        examples=[
            OpenApiExample(
                "Dark, isolated spots in Shropshire",
                value={
                    "layer": "hotspots",
                    "format": "gpkg",
                    "filters": {
                        "reasons": "poor_lighting,isolated",
                        "area": "wm-shropshire",
                        "resolution": "200",
                    },
                },
                request_only=True,
            )
        ],
        tags=["exports"],
    )
    def post(self, request: Request) -> Response:
        given = ExportInputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        export = export_create(
            user=_planner(request),
            scope=_scope(request),
            layer=given.validated_data["layer"],
            format=given.validated_data["format"],
            params=given.validated_data["filters"],
        )
        if export.status == Export.Status.FAILED:
            return Response({"detail": export.error}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        body = _body(export, request)
        return Response(
            body,
            status=(
                status.HTTP_201_CREATED
                if export.status == Export.Status.READY
                else status.HTTP_202_ACCEPTED
            ),
            headers={"Location": body["url"]},
        )

    @extend_schema(
        operation_id="exports_list",
        summary="Your exports",
        description=(
            "The exports you asked for as a planner of your current organisation, newest "
            "first, paginated by `limit` (50 by default, at most 200) and `offset`."
        ),
        responses={
            200: ExportOutputSerializer(many=True),
            400: OpenApiResponse(
                ErrorSerializer,
                description="A `limit` (from 1) or `offset` (from 0) that is not a whole "
                "number; `errors` names it.",
            ),
            **_refused,
        },
        tags=["exports"],
    )
    def get(self, request: Request) -> Response:
        paginator = ExportPagination()
        page = paginator.paginate_queryset(
            _own_exports(request).order_by("-created_at", "-pk"), request, view=self
        )
        assert page is not None
        return paginator.get_paginated_response(
            ExportOutputSerializer(page, many=True, context={"request": request}).data
        )


class ExportDetailApi(APIView):
    permission_classes = [IsPlanner]

    @extend_schema(
        operation_id="exports_retrieve",
        summary="One of your exports",
        description="Its status and progress; `download_url` once it is ready.",
        parameters=[_export_id],
        responses={200: ExportOutputSerializer, **_refused, **_not_found},
        tags=["exports"],
    )
    def get(self, request: Request, export_id: int) -> Response:
        return Response(_body(_own_export(request, export_id), request))


class ExportDownloadApi(APIView):
    permission_classes = [IsPlanner]

    @extend_schema(
        operation_id="exports_download",
        summary="Download one of your exports",
        description=(
            "The file, as an attachment named in `Content-Disposition`: text/csv, "
            "application/geo+json or application/geopackage+sqlite3."
        ),
        parameters=[_export_id],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="CSV."),
            (200, "application/geo+json"): OpenApiResponse(
                OpenApiTypes.BINARY, description="GeoJSON."
            ),
            (200, "application/geopackage+sqlite3"): OpenApiResponse(
                OpenApiTypes.BINARY, description="GeoPackage."
            ),
            **_refused,
            **_not_found,
            409: OpenApiResponse(
                ErrorSerializer, description="Not ready: queued, running or failed."
            ),
            410: OpenApiResponse(
                ErrorSerializer, description="The file has been deleted (expired): ask again."
            ),
        },
        tags=["exports"],
    )
    def get(self, request: Request, export_id: int) -> Response | FileResponse:
        export = _own_export(request, export_id)
        if export.status == Export.Status.EXPIRED:
            return Response(
                {"detail": "The export's file has been deleted: ask for the export again."},
                status=status.HTTP_410_GONE,
            )
        if export.status != Export.Status.READY:
            return Response(
                {"detail": f"The export is {export.status}, not ready to download."},
                status=status.HTTP_409_CONFLICT,
            )
        try:
            file = export_path(export).open("rb")
        except FileNotFoundError:
            return Response(
                {"detail": "The export's file has been removed: ask for the export again."},
                status=status.HTTP_410_GONE,
            )
        return FileResponse(
            file,
            as_attachment=True,
            filename=export_filename(export),
            content_type=CONTENT_TYPES[export.format],  # type: ignore[index]
        )
