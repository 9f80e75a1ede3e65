"""Where to spend a budget, over HTTP: ask, follow a large question, fetch its answer.

Planners only. A question is answered within the planner's scope (``geo.access``), and
every one is recorded as a ``PriorityRun`` that belongs to whoever asked: anyone else, a
colleague included, is told it does not exist (404), so that ids reveal nothing.
"""

from typing import Any

from django.contrib.auth.models import User
from django.http import HttpResponse
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
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from geo.apis import PlannerApi, planner_errors
from geo.coverage import Need, demand_reasons
from geo.models import PriorityRun
from geo.priorities import (
    FORMATS,
    RADIUS_RANGE,
    RunFailed,
    priorities_csv,
    priorities_gpkg,
    priority_ask,
    priority_question,
)
from streetsafe.errors import ErrorSerializer

# The files; GeoJSON is the API's own JSON.
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "gpkg": "application/geopackage+sqlite3",
}

_reasons = "; ".join(f"{need.value}: {', '.join(demand_reasons(need))}" for need in Need)

# As priority_question reads an amount: a finite number above 0.
_POUNDS = {"type": "number", "minimum": 0, "exclusiveMinimum": True}
_QUESTION_PARAMETERS = [
    OpenApiParameter(
        "intervention",
        OpenApiTypes.STR,
        enum=[need.value for need in Need],
        required=True,
        description=(
            "What to place: new street lights or new cameras. Demand is the weighted "
            f"unsafe reports giving a reason it addresses ({_reasons}) that no working "
            "light (within `LIGHT_RADIUS_M`) or working public-space camera (within "
            "`CAMERA_RADIUS_M`) already covers."
        ),
    ),
    OpenApiParameter(
        "budget",
        _POUNDS,
        required=True,
        description="The money to spend, in pounds: above 0, and at least `unit_cost` (one site).",
    ),
    OpenApiParameter(
        "unit_cost",
        _POUNDS,
        description=(
            "The cost of one site, in pounds, above 0; `PRIORITIES_UNIT_COST_LIGHTING` "
            "(2,500) or `PRIORITIES_UNIT_COST_CCTV` (15,000) when not given."
        ),
    ),
    OpenApiParameter(
        "radius",
        {"type": "integer", "minimum": RADIUS_RANGE[0], "maximum": RADIUS_RANGE[1]},
        description=(
            f"How far a new site reaches, in metres ({RADIUS_RANGE[0]} to {RADIUS_RANGE[1]}); "
            "the coverage radius of the intervention when not given (25 for lighting, 50 "
            "for cameras)."
        ),
    ),
    OpenApiParameter(
        "area",
        OpenApiTypes.STR,
        description=(
            "The code of an area your organisation covers: its reports only (and those of "
            "the areas inside it). Everything your organisation covers when not given."
        ),
    ),
]
_FORMAT = OpenApiParameter(
    "format",
    OpenApiTypes.STR,
    enum=list(FORMATS),
    description=(
        "geojson (the default): a FeatureCollection of points, with the totals as members; "
        "csv: one row per site, with a header; gpkg: a GeoPackage layer `priorities` "
        "(EPSG:4326)."
    ),
)
_RUN_ID = OpenApiParameter(
    "run_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The run's id."
)
_refused = {
    401: planner_errors[401],
    403: planner_errors[403],
}
_not_found = {
    404: OpenApiResponse(
        ErrorSerializer, description="No run of yours with this id (others' included)."
    ),
}

_SITE_SCHEMA = {
    "type": "object",
    "properties": {
        "type": {"type": "string", "enum": ["Feature"]},
        "geometry": {
            "type": "object",
            "properties": {
                "type": {"type": "string", "enum": ["Point"]},
                "coordinates": {"type": "array", "items": {"type": "number"}},
            },
        },
        "properties": {
            "type": "object",
            "properties": {
                "rank": {"type": "integer", "description": "1 for the first site chosen."},
                "longitude": {"type": "number"},
                "latitude": {"type": "number"},
                "source": {
                    "type": "string",
                    "enum": ["cell", "lamp_column"],
                    "description": "A hexagon's centre, or an existing lamp column (cameras).",
                },
                "gain": {"type": "number", "description": "Weighted demand it newly covers."},
                "reports": {"type": "integer", "description": "Reports it newly covers."},
                "reasons": {
                    "type": "object",
                    "additionalProperties": {"type": "number"},
                    "description": "Reason code: newly covered weight, largest first.",
                },
                "cost": {"type": "number"},
                "total_cost": {"type": "number"},
                "total_gain": {"type": "number"},
                "share": {
                    "type": "number",
                    "description": "Share of all uncovered demand covered so far, 0 to 1.",
                },
            },
        },
    },
}
_ANSWER_SCHEMA = {
    "type": "object",
    "description": "The chosen sites in the order chosen, with the question and its totals.",
    "properties": {
        "type": {"type": "string", "enum": ["FeatureCollection"]},
        "run": {"type": "integer", "description": "The run's id."},
        "need": {"type": "string", "enum": [need.value for need in Need]},
        "budget": {"type": "number"},
        "unit_cost": {"type": "number"},
        "radius": {"type": "integer"},
        "area_code": {"type": "string", "nullable": True},
        "demand_total": {
            "type": "number",
            "description": "All uncovered weighted demand in scope.",
        },
        "demand_covered": {"type": "number"},
        "share_covered": {"type": "number", "description": "0 to 1."},
        "cost_total": {"type": "number"},
        "candidate_count": {"type": "integer"},
        "site_count": {"type": "integer"},
        "demand_reports": {
            "type": "integer",
            "description": "Uncovered demand reports in scope.",
        },
        "reports_covered": {"type": "integer"},
        "features": {"type": "array", "items": _SITE_SCHEMA},
    },
}
_FILES = {
    (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="CSV, as a download."),
    (200, "application/geopackage+sqlite3"): OpenApiResponse(
        OpenApiTypes.BINARY, description="GeoPackage, as a download."
    ),
}


class PriorityRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(
        choices=PriorityRun.Status.choices,
        help_text="queued, then running, then ready (fetch `result_url`) or failed (see `error`).",
    )
    progress = serializers.FloatField(help_text="0 to 1; 1 once ready.")
    url = serializers.SerializerMethodField()
    result_url = serializers.SerializerMethodField()
    parameters = serializers.DictField(help_text="The question, as asked.")
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField(help_text="Why it failed; empty otherwise.")

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, run: PriorityRun) -> str:
        return self.context["request"].build_absolute_uri(reverse("priority-run", args=[run.pk]))

    @extend_schema_field({"type": "string", "format": "uri", "nullable": True})
    def get_result_url(self, run: PriorityRun) -> str | None:
        if run.status != PriorityRun.Status.READY:
            return None
        return self.context["request"].build_absolute_uri(
            reverse("priority-run-result", args=[run.pk])
        )


def _planner(request: Request) -> User:
    assert isinstance(request.user, User)  # IsPlanner let the request in
    return request.user


def _format(request: Request) -> str:
    found = [value.strip() for value in request.query_params.getlist("format") if value.strip()]
    if len(found) > 1:
        raise ValidationError({"format": [f"Give format once, not {len(found)} times."]})
    chosen = found[0] if found else "geojson"
    if chosen not in FORMATS:
        raise ValidationError({"format": [f"{chosen!r} is not a format: {', '.join(FORMATS)}."]})
    return chosen


def _answer(run: PriorityRun, chosen: str) -> Response | HttpResponse:
    """A ready run's answer in the chosen format."""
    result: dict[str, Any] = run.result or {}
    if chosen == "geojson":
        return Response({**result, "run": run.pk})
    name = f"streetsafe-priorities-{result['need']}-{run.pk}.{chosen}"
    if chosen == "csv":
        body: bytes = priorities_csv(result).encode("utf-8")
    else:
        try:
            body = priorities_gpkg(result)
        except RunFailed as failure:
            return Response({"detail": str(failure)}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
    response = HttpResponse(body, content_type=CONTENT_TYPES[chosen])
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


class PriorityListApi(PlannerApi):
    @extend_schema(
        operation_id="priorities_retrieve",
        summary="Where to spend a budget",
        description=(
            "The sites for new street lights or cameras that cover the most uncovered demand "
            "in your organisation's areas for the money, chosen greedily (each the site that "
            "newly covers the most; a report within reach of two sites counts once), each "
            "with the demand it newly covers, the reasons behind it, its cost and the "
            "running totals. Candidates are the centres of the 50 m hexagons holding the "
            "most uncovered demand (`PRIORITIES_MAX_CANDIDATES`) and, for cameras, existing "
            "lamp columns within reach of it.\n\n"
            "A scope with at most `PRIORITIES_INLINE_REPORTS` uncovered demand reports is "
            "answered at once (200); a larger one is queued for a worker: 202, and `url` "
            "(also the `Location` header) reports its progress until `result_url` has the "
            "answer. The same question asked again while the reports, assets and settings "
            "are unchanged is answered from the earlier run (200). Every question is "
            "recorded."
        ),
        parameters=[*_QUESTION_PARAMETERS, _FORMAT],
        responses={
            (200, "application/json"): OpenApiResponse(
                _ANSWER_SCHEMA, description="Answered: the chosen sites."
            ),
            **_FILES,
            202: OpenApiResponse(
                PriorityRunSerializer, description="Queued: follow `url` until ready."
            ),
            400: OpenApiResponse(
                ErrorSerializer,
                description="A faulty parameter; `errors` names it (`intervention`, `budget`, "
                "`unit_cost`, `radius`, `area`, `format`).",
            ),
            **_refused,
            503: OpenApiResponse(
                ErrorSerializer, description="The question could not be answered or queued now."
            ),
        },
        examples=[
            OpenApiExample(
                "Lights for £50,000 in Shropshire",
                value={"intervention": "lighting", "budget": 50000, "area": "wm-shropshire"},
                request_only=True,
            )
        ],
        tags=["priorities"],
    )
    def get(self, request: Request) -> Response | HttpResponse:
        errors: dict[str, Any] = {}
        chosen = question = None
        try:
            chosen = _format(request)
        except ValidationError as error:
            errors.update(error.detail)  # type: ignore[arg-type]
        try:
            question = priority_question(request.query_params, area_ids=self.scope.area_ids)
        except ValidationError as error:
            errors.update(error.detail)  # type: ignore[arg-type]
        if errors:
            raise ValidationError(errors)
        assert chosen is not None and question is not None
        run = priority_ask(user=_planner(request), scope=self.scope, question=question)
        if run.status == PriorityRun.Status.FAILED:
            return Response({"detail": run.error}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        if run.status == PriorityRun.Status.READY:
            return _answer(run, chosen)
        body = PriorityRunSerializer(run, context={"request": request}).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})


def _own_run(request: Request, scope_organisation_id: int, run_id: int) -> PriorityRun:
    # An id past a bigint's range is no one's, and must not reach the database.
    run = (
        None
        if run_id >= 2**63
        else PriorityRun.objects.filter(
            pk=run_id, user=_planner(request), organisation_id=scope_organisation_id
        ).first()
    )
    if run is None:
        raise NotFound("No run of yours with this id.")
    return run


class PriorityRunApi(PlannerApi):
    @extend_schema(
        operation_id="priorities_runs_retrieve",
        summary="One of your priority runs",
        description="Its status and progress; `result_url` once it is ready.",
        parameters=[_RUN_ID],
        responses={200: PriorityRunSerializer, **_refused, **_not_found},
        tags=["priorities"],
    )
    def get(self, request: Request, run_id: int) -> Response:
        run = _own_run(request, self.scope.organisation.pk, run_id)
        return Response(PriorityRunSerializer(run, context={"request": request}).data)


class PriorityRunResultApi(PlannerApi):
    @extend_schema(
        operation_id="priorities_runs_result",
        summary="The answer of one of your priority runs",
        description="The chosen sites, as the question's own answer gives them, once ready.",
        parameters=[_RUN_ID, _FORMAT],
        responses={
            (200, "application/json"): OpenApiResponse(
                _ANSWER_SCHEMA, description="The chosen sites."
            ),
            **_FILES,
            400: OpenApiResponse(ErrorSerializer, description="An unknown `format`."),
            **_refused,
            **_not_found,
            409: OpenApiResponse(
                ErrorSerializer, description="Not ready: queued, running or failed."
            ),
            503: OpenApiResponse(
                ErrorSerializer, description="The GeoPackage could not be written just now."
            ),
        },
        tags=["priorities"],
    )
    def get(self, request: Request, run_id: int) -> Response | HttpResponse:
        run = _own_run(request, self.scope.organisation.pk, run_id)
        chosen = _format(request)
        if run.status != PriorityRun.Status.READY:
            detail = f"The run is {run.status}, not ready."
            if run.error:
                detail += f" {run.error}"
            return Response({"detail": detail}, status=status.HTTP_409_CONFLICT)
        return _answer(run, chosen)
