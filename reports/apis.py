"""The public reporting API, as the mobile app uses it. Thin: parse, call a service, answer."""

import contextlib
import functools
import hashlib
import json
import uuid
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView
from rest_framework_gis.serializers import GeoFeatureModelSerializer

from geo.access import IsPlanner, planner_scope
from geo.apis import filter_parameters, page_errors, page_parameters, planner_errors
from geo.areas import service_area_outline
from geo.filters import REPORT_PARAMS, parse_layer_filters
from geo.hotspots.schedule import hotspots_rebuild_soon
from geo.selectors import BAND_NAMES, planner_reports
from reports.intake import InvalidReport, ReportInput, parse_report
from reports.models import LOCAL_TIME_ZONE, Report
from reports.reasons import GENERAL_ADVICE, REASONS, REASONS_VERSION, SIGNPOSTING, advice_for
from reports.services import SubmitResult, report_erase, report_submit, report_submit_batch
from reports.throttles import ReportThrottle, intake_admit
from streetsafe.errors import ErrorSerializer, exception_handler
from streetsafe.pagination import PagePagination
from streetsafe.parsers import parse_json

_errors = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid input; `errors` names each field."),
    413: OpenApiResponse(ErrorSerializer, description="The body is over the size limit."),
    415: OpenApiResponse(ErrorSerializer, description="The body is not application/json."),
    429: OpenApiResponse(
        ErrorSerializer, description="Too many reports from this client; see `Retry-After`."
    ),
    503: OpenApiResponse(
        ErrorSerializer, description="The database is briefly unavailable; see `Retry-After`."
    ),
}


class PointSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["Point"])
    coordinates = serializers.ListField(
        child=serializers.FloatField(),
        min_length=2,
        max_length=2,
        help_text="[longitude, latitude]",
    )


class ReportInputSerializer(serializers.Serializer):
    """Documents the body that ``reports.intake.parse_report`` validates."""

    id = serializers.UUIDField(help_text="Made by the app; sending it again is safe.")
    location = PointSerializer(help_text="GeoJSON Point in WGS84, [longitude, latitude].")
    reasons = serializers.ListField(
        child=serializers.ChoiceField(choices=[r.code for r in REASONS]),
        required=False,
        help_text="At least one unless feeling is safe.",
    )
    feeling = serializers.ChoiceField(choices=["unsafe", "safe"], default="unsafe")
    severity = serializers.ChoiceField(
        choices=[1, 2, 3], required=False, help_text="1 uneasy, 2 unsafe, 3 very unsafe."
    )
    felt_at = serializers.DateTimeField(
        required=False, help_text="ISO 8601 with an offset; not in the future nor over a year ago."
    )
    description = serializers.CharField(required=False, max_length=1000)
    app_version = serializers.CharField(required=False, max_length=32)


class AreaRefSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


class SignpostSerializer(serializers.Serializer):
    title = serializers.CharField()
    text = serializers.CharField()
    phone = serializers.CharField(required=False)
    url = serializers.URLField(required=False)


class ReportReceiptSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    receipt = serializers.CharField(
        help_text="Keep this: sent as X-Receipt, it deletes the report. It is shown only here."
    )
    area = AreaRefSerializer(allow_null=True, help_text="The local policing area.")
    advice = serializers.ListField(child=serializers.CharField())
    signposting = SignpostSerializer(many=True)


def _receipt_body(result: SubmitResult) -> dict[str, Any]:
    return {
        "id": result.id,
        "receipt": result.receipt,
        "area": (
            {"code": result.area_code, "name": result.area_name} if result.area_code else None
        ),
        "advice": advice_for(list(result.reasons)),
        "signposting": list(SIGNPOSTING),
    }


class PublicApi(APIView):
    """The app's endpoints: no accounts, so no authentication to run."""

    authentication_classes: list = []
    permission_classes: list = []


class ReportPointSerializer(GeoFeatureModelSerializer):
    """A report as planners see it: the point, what and when, and approved text only."""

    area = serializers.CharField(source="area_code", allow_null=True, read_only=True)
    time_band = serializers.SerializerMethodField(
        help_text="When it was felt: day, evening, night or unknown."
    )
    felt_on = serializers.SerializerMethodField(
        help_text="The local date it was felt (received, where the reporter did not say)."
    )
    text = serializers.CharField(
        source="approved_text",
        read_only=True,
        help_text="The redacted text once a moderator approved it; empty otherwise.",
    )

    class Meta:
        model = Report
        geo_field = "location"
        id_field = False
        fields = ["feeling", "severity", "reasons", "time_band", "felt_on", "area", "text"]

    def get_time_band(self, report: Report) -> str:
        return BAND_NAMES[report.felt_band]

    def get_felt_on(self, report: Report) -> str:
        moment = report.felt_at or report.received_at
        return moment.astimezone(ZoneInfo(LOCAL_TIME_ZONE)).date().isoformat()


class ReportPagination(PagePagination):
    @property
    def page_size(self) -> int:
        return settings.REPORTS_PAGE_SIZE

    @property
    def max_page_size(self) -> int:
        return settings.REPORTS_MAX_PAGE_SIZE


class ReportCollectionApi(APIView):
    """``/reports``: the app sends a report (POST, anyone); planners list them (GET).

    One path, two audiences: authentication, permission and throttle follow the method, so
    the app's POST runs no authentication at all.
    """

    def get_authenticators(self) -> list[BaseAuthentication]:
        if self.request is not None and self.request.method == "POST":
            return []
        return super().get_authenticators()

    def get_permissions(self) -> list[BasePermission]:
        if self.request.method == "POST":
            return []
        return [IsPlanner()]

    def get_throttles(self) -> list[BaseThrottle]:
        if self.request.method == "POST":
            self.intake_throttle = ReportThrottle()
            return [self.intake_throttle]
        return []

    @extend_schema(
        operation_id="reports_list",
        summary="Report points (planners)",
        description=(
            "Reports inside your organisation's areas, newest first, as a paginated GeoJSON "
            "FeatureCollection (`page`, `page_size`). Free text appears only once a moderator "
            "has approved it, and then redacted; pending or rejected text never does."
        ),
        parameters=[
            *filter_parameters(REPORT_PARAMS),
            *page_parameters(
                "Reports a page (REPORTS_PAGE_SIZE, 500; at most REPORTS_MAX_PAGE_SIZE, 5000)."
            ),
        ],
        responses={200: ReportPointSerializer(many=True), **planner_errors, **page_errors},
        tags=["planner layers"],
    )
    def get(self, request: Request) -> Response:
        scope = planner_scope(request)
        assert scope is not None  # IsPlanner let the request in
        filters = parse_layer_filters(
            request.query_params, allowed=REPORT_PARAMS, area_ids=scope.area_ids
        )
        found = planner_reports(filters=filters, area_ids=scope.area_ids).annotate(
            area_code=F("area__code")
        )
        paginator = ReportPagination()
        page = paginator.paginate_queryset(found, request, view=self)
        assert page is not None
        return paginator.get_paginated_response(ReportPointSerializer(page, many=True).data)

    @extend_schema(
        operation_id="reports_create",
        summary="Send a report",
        description=(
            "Stores an anonymous report. Sending the same `id` with the same body again "
            "stores nothing new and returns the same receipt (200); the same `id` with a "
            "different body is a 409."
        ),
        request=ReportInputSerializer,
        responses={
            201: ReportReceiptSerializer,
            200: OpenApiResponse(ReportReceiptSerializer, description="A replay: same body."),
            409: OpenApiResponse(ErrorSerializer, description="The id has another body."),
            **_errors,
        },
        examples=[
            OpenApiExample(
                "Dark underpass",
                value={
                    "id": "0d6f6f0e-4b5b-4c55-9d3a-2a4f4f1f0c11",
                    "location": {"type": "Point", "coordinates": [-2.2205, 52.1917]},
                    "reasons": ["poor_lighting", "isolated"],
                    "severity": 2,
                    "felt_at": "2026-11-20T22:15:00+00:00",
                },
                request_only=True,
            )
        ],
        tags=["reports"],
    )
    def post(self, request: Request) -> Response:
        status_code, body = submit_one(request.data, self.intake_throttle.areas_version)
        return Response(body, status=status_code)


def submit_one(data: Any, areas_version: str | None) -> tuple[int, dict[str, Any]]:
    """``POST /reports`` once its body is read: the status and the body of the answer."""
    try:
        report = parse_report(data)
    except InvalidReport as exc:
        return status.HTTP_400_BAD_REQUEST, {"detail": "Invalid input.", "errors": exc.errors}
    result = report_submit(report=report, areas_version=areas_version)
    if result.outcome == "invalid":
        return status.HTTP_400_BAD_REQUEST, {"detail": "Invalid input.", "errors": result.errors}
    if result.outcome == "conflict":
        return status.HTTP_409_CONFLICT, {
            "detail": "A different report was already sent with this id; make a new id.",
            "errors": result.errors,
        }
    if result.outcome == "created":
        hotspots_rebuild_soon()
    return (
        status.HTTP_201_CREATED if result.outcome == "created" else status.HTTP_200_OK,
        _receipt_body(result),
    )


class BatchInputSerializer(serializers.Serializer):
    reports = ReportInputSerializer(many=True)


class BatchItemSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    id = serializers.UUIDField(allow_null=True)
    status = serializers.ChoiceField(choices=["created", "duplicate", "invalid"])
    receipt = serializers.CharField(required=False)
    area = AreaRefSerializer(allow_null=True, required=False)
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()), required=False
    )


class BatchResultSerializer(serializers.Serializer):
    results = BatchItemSerializer(many=True)


class ReportBatchApi(PublicApi):
    def get_throttles(self) -> list[BaseThrottle]:
        self.intake_throttle = ReportThrottle()
        return [self.intake_throttle]

    @extend_schema(
        operation_id="reports_batch",
        summary="Send the app's offline queue",
        description=(
            "Up to the configured maximum of reports at once. One result per item, in order: "
            "`created`, `duplicate` (already stored with the same body) or `invalid` with its "
            "errors (including an id already used with another body). Valid items are stored "
            "even when others are invalid."
        ),
        request=BatchInputSerializer,
        responses={200: BatchResultSerializer, **_errors},
        tags=["reports"],
    )
    def post(self, request: Request) -> Response:
        status_code, body = submit_batch(request.data, self.intake_throttle.areas_version)
        return Response(body, status=status_code)


def submit_batch(data: Any, areas_version: str | None) -> tuple[int, dict[str, Any]]:
    """``POST /reports/batch`` once its body is read: the status and the body of the answer."""
    items = data.get("reports") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return status.HTTP_400_BAD_REQUEST, {
            "detail": "Invalid input.",
            "errors": {"reports": ['Send {"reports": [...]}, a list of reports.']},
        }
    if len(items) > settings.MAX_BATCH:
        return status.HTTP_400_BAD_REQUEST, {
            "detail": "Invalid input.",
            "errors": {
                "reports": [f"At most {settings.MAX_BATCH} reports at once; this has {len(items)}."]
            },
        }
    parsed: list[ReportInput | InvalidReport] = []
    now = timezone.now()
    for item in items:
        try:
            parsed.append(parse_report(item, now=now))
        except InvalidReport as exc:
            parsed.append(exc)
    results = report_submit_batch(items=parsed, areas_version=areas_version)
    if any(result.outcome == "created" for result in results):
        hotspots_rebuild_soon()
    return status.HTTP_200_OK, {"results": [_batch_item(i, r) for i, r in enumerate(results)]}


def _batch_item(index: int, result: SubmitResult) -> dict[str, Any]:
    if result.outcome in ("invalid", "conflict"):
        return {
            "index": index,
            "id": result.id,
            "status": "invalid",
            "errors": result.errors,
        }
    # No advice per item: the app shows it after a single report, not for a queue sent
    # later, and a hundred copies would make the answer ten times longer.
    return {
        "index": index,
        "id": result.id,
        "status": result.outcome,
        "receipt": result.receipt,
        "area": {"code": result.area_code, "name": result.area_name} if result.area_code else None,
    }


class ReportEraseApi(PublicApi):
    throttle_classes = [ReportThrottle]

    @extend_schema(
        operation_id="reports_erase",
        summary="Delete your report",
        description=(
            "Deletes the report for good, with the receipt it returned. A wrong receipt and "
            "an unknown id get the same 404, so nobody learns whether a report exists."
        ),
        parameters=[
            OpenApiParameter(
                "report_id", OpenApiTypes.UUID, OpenApiParameter.PATH,
                description="The report's id, as the app sent it.",
            ),
            # Blank is as good as missing: a 400.
            OpenApiParameter(
                "X-Receipt", {"type": "string", "pattern": r"\S"}, OpenApiParameter.HEADER,
                required=True, description="The receipt returned when the report was sent.",
            ),
        ],
        responses={
            204: OpenApiResponse(description="Deleted."),
            400: OpenApiResponse(ErrorSerializer, description="No X-Receipt header."),
            404: OpenApiResponse(ErrorSerializer, description="No such id and receipt."),
            429: _errors[429],
            503: _errors[503],
        },
        tags=["reports"],
    )  # fmt: skip
    def delete(self, request: Request, report_id: str) -> Response:
        receipt = request.headers.get("X-Receipt", "").strip()
        if not receipt:
            return Response(
                {
                    "detail": "Send the receipt in the X-Receipt header.",
                    "errors": {"X-Receipt": ["This header is required."]},
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        try:
            parsed_id = uuid.UUID(report_id)
        except ValueError:
            parsed_id = None
        if parsed_id is None or not report_erase(report_id=parsed_id, receipt=receipt):
            return Response(
                {"detail": "No report with this id and receipt."},
                status=status.HTTP_404_NOT_FOUND,
            )
        hotspots_rebuild_soon()
        return Response(status=status.HTTP_204_NO_CONTENT)


class LimitsSerializer(serializers.Serializer):
    max_description_length = serializers.IntegerField()
    max_batch = serializers.IntegerField()


class ReasonSerializer(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    group = serializers.ChoiceField(choices=["environmental", "behavioural", "either"])
    interventions = serializers.ListField(child=serializers.CharField())


class ServiceAreaSerializer(serializers.Serializer):
    name = serializers.CharField()
    bbox = serializers.ListField(child=serializers.FloatField(), help_text="minx,miny,maxx,maxy")
    polygon = serializers.JSONField(help_text="Simplified GeoJSON outline.")


class ConfigSerializer(serializers.Serializer):
    reasons_version = serializers.IntegerField()
    reasons = ReasonSerializer(many=True)
    service_area = ServiceAreaSerializer(allow_null=True)
    advice = serializers.ListField(child=serializers.CharField())
    signposting = SignpostSerializer(many=True)
    limits = LimitsSerializer()


CONFIG_CACHE_SECONDS = 300


class ConfigApi(PublicApi):
    @extend_schema(
        operation_id="config",
        summary="What the app needs before a report",
        description=(
            "Reasons, the service area, advice, signposting and limits. Carries an ETag: "
            "send it back as If-None-Match to get a 304 when nothing changed."
        ),
        responses={200: ConfigSerializer, 304: OpenApiResponse(description="Not modified.")},
        tags=["config"],
    )
    def get(self, request: Request) -> Response:
        body = _config_body()
        response = Response(body)
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        response["ETag"] = f'"{digest[:32]}"'
        response["Cache-Control"] = f"public, max-age={CONFIG_CACHE_SECONDS}"
        return response


def _config_body() -> dict[str, Any]:
    # The simplified outline costs a union of the force areas: computed once per few minutes.
    try:
        outline = cache.get("config:service-area")
    except Exception:
        outline = None
    if outline is None:
        outline = service_area_outline()
        # Without the cache the outline is simply computed again next time.
        with contextlib.suppress(Exception):
            cache.set("config:service-area", outline, CONFIG_CACHE_SECONDS)
    return {
        "reasons_version": REASONS_VERSION,
        "reasons": [
            {
                "code": r.code,
                "label": r.label,
                "group": r.group.value,
                "interventions": [i.value for i in r.interventions],
            }
            for r in REASONS
        ],
        "service_area": outline,
        "advice": list(GENERAL_ADVICE),
        "signposting": list(SIGNPOSTING),
        "limits": {
            "max_description_length": settings.MAX_DESCRIPTION_LENGTH,
            "max_batch": settings.MAX_BATCH,
        },
    }


# --- The app's two POSTs, past DRF ---------------------------------------------------------
#
# A report costs the server about a millisecond of CPU, and DRF's request wrapping, content
# negotiation and response rendering took a fifth of it. The app always sends a JSON body
# and accepts JSON, so requests that look like that are answered here directly: the same
# admission (throttle), the same parsing, the same handler (submit_one, submit_batch) and
# the same renderer as DRF's view, hence the same answers byte for byte
# (tests/api/test_intake_fast_path.py compares them). Anything else (another content type
# or charset, an Accept header asking for something else, an empty body, another method)
# goes to the DRF view, which answers it as it always did.

_RENDERER = JSONRenderer()
_PLAIN_ACCEPT = (None, "*/*", "application/json")
_UTF8 = ("utf-8", "utf8")


def intake_fast_path(
    view: Callable[..., HttpResponse], handle: Callable[[Any, str | None], tuple[int, Any]]
) -> Callable[..., HttpResponse]:
    """``view`` (a DRF view's ``as_view()``) with its plain JSON POSTs answered by ``handle``.

    The result keeps the DRF view's attributes (``cls``, ``initkwargs``), so the OpenAPI
    schema still documents the view, and is CSRF-exempt like it.
    """
    allow = _allowed_methods(view.cls)  # type: ignore[attr-defined]

    @functools.wraps(view)
    def fast(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not _plain_json_post(request):
            return view(request, *args, **kwargs)
        admission = intake_admit(request)
        if not admission.allowed:
            return _error(exceptions.Throttled(admission.retry_after), allow)
        try:
            data = parse_json(request.body)
        except exceptions.ParseError as exc:
            return _error(exc, allow)
        status_code, body = handle(data, admission.areas_version)
        return _json(body, status_code, allow)

    return csrf_exempt(fast)


def _plain_json_post(request: HttpRequest) -> bool:
    """A POST with a JSON body in UTF-8 that accepts plain JSON back."""
    if request.method != "POST" or request.content_type != "application/json":
        return False
    params = request.content_params
    if params and (params.keys() != {"charset"} or params["charset"].lower() not in _UTF8):
        return False
    if request.META.get("HTTP_ACCEPT") not in _PLAIN_ACCEPT:
        return False
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0) > 0
    except ValueError:
        return False


def _allowed_methods(view_class: type[APIView]) -> str:
    """DRF's ``Allow`` header for this view (HEAD comes with GET)."""
    view = view_class()
    if hasattr(view, "get") and not hasattr(view, "head"):
        view.head = view.get  # type: ignore[attr-defined]
    return ", ".join(view.allowed_methods)


def _json(body: Any, status_code: int, allow: str) -> HttpResponse:
    response = HttpResponse(
        _RENDERER.render(body), status=status_code, content_type="application/json"
    )
    response["Allow"] = allow
    return response


def _error(exc: exceptions.APIException, allow: str) -> HttpResponse:
    """The answer DRF gives for this exception (streetsafe.errors.exception_handler)."""
    handled = exception_handler(exc, {})
    assert handled is not None  # an APIException always has an answer
    response = _json(handled.data, handled.status_code, allow)
    if handled.has_header("Retry-After"):
        response["Retry-After"] = handled["Retry-After"]
    return response
