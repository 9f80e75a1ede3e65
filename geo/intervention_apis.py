"""Interventions over HTTP: record them, list and change them, evaluate them; and the public
"you said, we did" list.

Thin: the body and the filters are read here, the rules are ``geo.interventions`` and the
arithmetic ``geo.evaluation``. An intervention a planner cannot see is a 404, as one
that does not exist; one they can see but that another organisation recorded is a 403 on
change or delete, naming that organisation (see ``geo.interventions``).
"""

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.gis.geos import Polygon
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Exists, OuterRef, QuerySet
from django.http import Http404
from django.utils.cache import patch_cache_control
from django.utils.dateparse import parse_date
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param
from rest_framework.views import APIView
from rest_framework_gis.serializers import GeoFeatureModelSerializer

from geo.access import PlannerScope
from geo.apis import (
    PlannerApi,
    filter_parameters,
    listed_parameter,
    page_errors,
    page_parameters,
    planner_errors,
)
from geo.evaluation import intervention_evaluate
from geo.filters import parse_layer_filters
from geo.interventions import (
    EDITABLE_FIELDS,
    NOTE_MAX_LENGTH,
    intervention_create,
    intervention_delete,
    intervention_may_change,
    intervention_update,
    intervention_visible,
    interventions_visible,
    local_today,
    public_actions,
)
from geo.models import Area, AreaPart, Intervention
from streetsafe.errors import ErrorSerializer
from streetsafe.pagination import PagePagination, whole_number

LIST_PARAMS = ("area", "in_bbox")

_not_found = {
    404: OpenApiResponse(
        ErrorSerializer, description="No intervention with this id that you can see."
    ),
}
_intervention_id = OpenApiParameter(
    "intervention_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="Its id."
)
_POINT_SCHEMA = {
    "type": "object",
    "description": "A GeoJSON Point in WGS84: [longitude, latitude].",
    "properties": {
        "type": {"type": "string", "enum": ["Point"]},
        "coordinates": {
            "type": "array",
            "items": {"type": "number"},
            "minItems": 2,
            "maxItems": 2,
        },
    },
    "required": ["type", "coordinates"],
}


@extend_schema_field(_POINT_SCHEMA)
class PointInputField(serializers.Field):
    """A GeoJSON Point, read as a (longitude, latitude) pair of finite numbers."""

    default_error_messages = {
        # Braces doubled: DRF formats these messages.
        "invalid": 'Must be a GeoJSON Point: {{"type": "Point", "coordinates": [lon, lat]}}.',
        "numbers": "coordinates must be two finite numbers, [longitude, latitude].",
    }

    def to_internal_value(self, data: Any) -> tuple[float, float]:
        if not isinstance(data, dict) or data.get("type") != "Point":
            self.fail("invalid")
        coordinates = data.get("coordinates")
        if (
            not isinstance(coordinates, list)
            or len(coordinates) != 2
            or not all(
                isinstance(c, int | float) and not isinstance(c, bool) and math.isfinite(c)
                for c in coordinates
            )
        ):
            self.fail("numbers")
        return float(coordinates[0]), float(coordinates[1])

    def to_representation(self, value: Any) -> Any:
        return {"type": "Point", "coordinates": list(value)}


class InterventionInputSerializer(serializers.Serializer):
    """The body of a POST (and, every field optional, of a PATCH)."""

    kind = serializers.ChoiceField(choices=Intervention.Kind.choices)
    location = PointInputField(
        required=False,
        help_text="Where it was done; or give `streetlight` or `camera` instead.",
    )
    streetlight = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="The id of the street light it was done to (new_light, light_repaired): "
        "its position is used. null unlinks it.",
    )
    camera = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="The id of the camera it installed (new_camera): its position is used. "
        "null unlinks it.",
    )
    date = serializers.DateField(
        help_text="The day it was completed (YYYY-MM-DD); a later day means it is planned."
    )
    radius_m = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="Reports within this many metres count as its own "
        "(`INTERVENTION_RADIUS_M`, 100, when not given; at most `INTERVENTION_MAX_RADIUS_M`).",
    )
    cost = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        required=False,
        allow_null=True,
        coerce_to_string=False,
        help_text="What it cost, in pounds; at least 0.",
    )
    note = serializers.CharField(
        required=False, allow_blank=True, max_length=NOTE_MAX_LENGTH, trim_whitespace=True
    )

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(EDITABLE_FIELDS))
            if unknown:
                raise ValidationError(
                    {
                        name: [f"Unknown field: the fields are {', '.join(EDITABLE_FIELDS)}."]
                        for name in unknown
                    }
                )
        return super().to_internal_value(data)


class InterventionFeatureSerializer(GeoFeatureModelSerializer):
    """An intervention as a GeoJSON Feature, for planners."""

    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    status = serializers.SerializerMethodField(
        help_text="completed (its date is today or past) or planned."
    )
    organisation = serializers.CharField(source="organisation.name", read_only=True)
    area = serializers.CharField(
        source="area.code", allow_null=True, read_only=True, help_text="Local policing area."
    )
    area_name = serializers.CharField(source="area.name", allow_null=True, read_only=True)
    cost = serializers.DecimalField(
        max_digits=12, decimal_places=2, allow_null=True, coerce_to_string=False, read_only=True
    )
    can_change = serializers.SerializerMethodField(
        help_text="Whether you may change or delete it (your organisation recorded it)."
    )

    class Meta:
        model = Intervention
        geo_field = "location"
        fields = [
            "id",
            "kind",
            "kind_label",
            "status",
            "date",
            "radius_m",
            "cost",
            "note",
            "organisation",
            "area",
            "area_name",
            "streetlight",
            "camera",
            "can_change",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(serializers.ChoiceField(choices=["completed", "planned"]))
    def get_status(self, intervention: Intervention) -> str:
        return "planned" if intervention.date > self.context["today"] else "completed"

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_can_change(self, intervention: Intervention) -> bool:
        return intervention_may_change(scope=self.context["scope"], intervention=intervention)


def _context(scope: PlannerScope) -> dict[str, Any]:
    return {"scope": scope, "today": local_today()}


def _with_related(found: QuerySet[Intervention]) -> QuerySet[Intervention]:
    # The area's boundary is megabytes and nothing here draws it.
    return found.select_related("area", "organisation").defer("area__geom")


def _stored(call: Callable[..., Intervention], **kwargs: Any) -> Intervention:
    """Runs a service; its ValidationError (a Django one, by field) becomes a 400."""
    try:
        return call(**kwargs)
    except DjangoValidationError as error:
        raise ValidationError(error.message_dict) from error


class InterventionPagination(PagePagination):
    page_size = 500
    max_page_size = 5000


_LIST_DOCS = [
    *filter_parameters(LIST_PARAMS),
    listed_parameter(
        "kind",
        Intervention.Kind.values,
        f"Kinds, comma-separated: {', '.join(Intervention.Kind.values)}.",
    ),
    OpenApiParameter(
        "since", OpenApiTypes.DATE, description="Done (or planned) on or after this day."
    ),
    OpenApiParameter(
        "until", OpenApiTypes.DATE, description="Done on or before this day; not before since."
    ),
    *page_parameters(
        f"Interventions a page ({InterventionPagination.page_size}; at most "
        f"{InterventionPagination.max_page_size})."
    ),
]


def _day(text: str) -> dt.date | None:
    try:
        return parse_date(text)
    except ValueError:  # well formed, but no such day
        return None


def _list_filters(request: Request, scope: PlannerScope) -> QuerySet[Intervention]:
    """The visible interventions that the query's filters let in; a 400 names each fault."""
    params = request.query_params
    errors: dict[str, list[str]] = {}
    found = interventions_visible(scope=scope)
    try:
        filters = parse_layer_filters(params, allowed=LIST_PARAMS, area_ids=scope.area_ids)
    except ValidationError as error:
        assert isinstance(error.detail, dict)
        for name, messages in error.detail.items():
            errors[name] = [str(message) for message in messages]
        filters = None
    if filters is not None and filters.area is not None:
        # Located in it, whatever its kind: a force's, a district's, a ward's.
        found = found.filter(
            Exists(
                AreaPart.objects.filter(area=filters.area, geom__intersects=OuterRef("location"))
            )
        )
    if filters is not None and filters.bbox is not None:
        envelope = Polygon.from_bbox(filters.bbox)
        envelope.srid = 4326
        found = found.filter(location__intersects=envelope)

    kinds = [k.strip() for v in params.getlist("kind") for k in v.split(",") if k.strip()]
    if unknown := [k for k in kinds if k not in Intervention.Kind.values]:
        errors["kind"] = [
            f"Unknown kind: {', '.join(unknown)}. Known: {', '.join(Intervention.Kind.values)}."
        ]
    elif kinds:
        found = found.filter(kind__in=kinds)

    days: dict[str, dt.date] = {}
    for name in ("since", "until"):
        values = [v.strip() for v in params.getlist(name) if v.strip()]
        if len(values) > 1:
            errors[name] = [f"Give {name} once, not {len(values)} times."]
        elif values:
            day = _day(values[0])
            if day is None:
                errors[name] = [f"{values[0]!r} is not a date: use YYYY-MM-DD."]
            else:
                days[name] = day
    if "since" in days and "until" in days and days["since"] > days["until"]:
        errors["until"] = ["until must not come before since."]
    if errors:
        raise ValidationError(errors)
    if "since" in days:
        found = found.filter(date__gte=days["since"])
    if "until" in days:
        found = found.filter(date__lte=days["until"])
    return found


class InterventionListCreateApi(PlannerApi):
    @extend_schema(
        operation_id="interventions_list",
        summary="Interventions",
        description=(
            "Interventions located in your organisation's areas, whoever recorded them, and "
            "your organisation's own anywhere; newest first, as a paginated GeoJSON "
            "FeatureCollection (`page`, `page_size`). `can_change` says which you may "
            "change: those your organisation recorded."
        ),
        parameters=_LIST_DOCS,
        responses={
            200: InterventionFeatureSerializer(many=True),
            **planner_errors,
            **page_errors,
        },
        tags=["interventions"],
    )
    def get(self, request: Request) -> Response:
        scope = self.scope
        found = _with_related(_list_filters(request, scope)).order_by("-date", "-pk")
        paginator = InterventionPagination()
        page = paginator.paginate_queryset(found, request, view=self)
        assert page is not None
        return paginator.get_paginated_response(
            InterventionFeatureSerializer(page, many=True, context=_context(scope)).data
        )

    @extend_schema(
        operation_id="interventions_create",
        summary="Record an intervention",
        description=(
            "Records what your organisation did (or plans to do) at a place: give its "
            "`location` as a GeoJSON Point, or the `streetlight` or `camera` it was done "
            "to, whose position is used. The place must lie in a local policing area your "
            "organisation covers. A street light goes with new_light or light_repaired, a "
            "camera with new_camera."
        ),
        request=InterventionInputSerializer,
        responses={
            201: InterventionFeatureSerializer,
            400: OpenApiResponse(
                ErrorSerializer, description="Invalid input; `errors` names each field."
            ),
            **{code: planner_errors[code] for code in (401, 403)},
        },
        examples=[
            OpenApiExample(
                "A new light on a dark path",
                value={
                    "kind": "new_light",
                    "location": {"type": "Point", "coordinates": [-2.7547, 52.708]},
                    "date": "2026-03-14",
                    "cost": 4200,
                    "note": "Column 14 on the riverside path",
                },
                request_only=True,
            ),
            OpenApiExample(
                "A repaired light, by its id",
                value={"kind": "light_repaired", "streetlight": 1234, "date": "2026-02-02"},
                request_only=True,
            ),
        ],
        tags=["interventions"],
    )
    def post(self, request: Request) -> Response:
        given = InterventionInputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        created = _stored(
            intervention_create,
            scope=self.scope,
            user=request.user if isinstance(request.user, User) else None,
            values=given.validated_data,
        )
        found = _with_related(Intervention.objects.filter(pk=created.pk)).get()
        return Response(
            InterventionFeatureSerializer(found, context=_context(self.scope)).data,
            status=status.HTTP_201_CREATED,
        )


class InterventionDetailApi(PlannerApi):
    def visible(self, intervention_id: int) -> Intervention:
        found = intervention_visible(scope=self.scope, intervention_id=intervention_id)
        if found is None:
            raise Http404("No intervention with this id that you can see.")
        return found

    @extend_schema(
        operation_id="interventions_retrieve",
        summary="One intervention",
        parameters=[_intervention_id],
        responses={200: InterventionFeatureSerializer, **planner_errors, **_not_found},
        tags=["interventions"],
    )
    def get(self, request: Request, intervention_id: int) -> Response:
        found = self.visible(intervention_id)
        return Response(InterventionFeatureSerializer(found, context=_context(self.scope)).data)

    @extend_schema(
        operation_id="interventions_partial_update",
        summary="Change an intervention",
        description=(
            "Changes the fields given, as in a POST. A new `location` unlinks the asset; a "
            "new `streetlight` or `camera` moves it to that asset. Only planners of the "
            "organisation that recorded it may change it: anyone else who can see it gets "
            "a 403."
        ),
        parameters=[_intervention_id],
        request=InterventionInputSerializer(partial=True),
        responses={
            200: InterventionFeatureSerializer,
            400: OpenApiResponse(
                ErrorSerializer, description="Invalid input; `errors` names each field."
            ),
            401: planner_errors[401],
            403: OpenApiResponse(
                ErrorSerializer,
                description="Not a planner, or another organisation's intervention.",
            ),
            **_not_found,
        },
        tags=["interventions"],
    )
    def patch(self, request: Request, intervention_id: int) -> Response:
        found = self.visible(intervention_id)
        given = InterventionInputSerializer(data=request.data, partial=True)
        given.is_valid(raise_exception=True)
        _stored(
            intervention_update, scope=self.scope, intervention=found, values=given.validated_data
        )
        found = _with_related(Intervention.objects.filter(pk=found.pk)).get()
        return Response(InterventionFeatureSerializer(found, context=_context(self.scope)).data)

    @extend_schema(
        operation_id="interventions_destroy",
        summary="Delete an intervention",
        description="Only planners of the organisation that recorded it may delete it.",
        parameters=[_intervention_id],
        responses={
            204: OpenApiResponse(description="Deleted."),
            401: planner_errors[401],
            403: OpenApiResponse(
                ErrorSerializer,
                description="Not a planner, or another organisation's intervention.",
            ),
            **_not_found,
        },
        tags=["interventions"],
    )
    def delete(self, request: Request, intervention_id: int) -> Response:
        intervention_delete(scope=self.scope, intervention=self.visible(intervention_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


# The evaluation, documented field by field; the body is ``Evaluation.as_dict()``.


class WindowSerializer(serializers.Serializer):
    first = serializers.CharField(allow_null=True, help_text="YYYY-MM")
    last = serializers.CharField(allow_null=True, help_text="YYYY-MM")
    months = serializers.IntegerField()


class GroupCountsSerializer(serializers.Serializer):
    before = serializers.IntegerField()
    after = serializers.IntegerField()
    before_per_month = serializers.FloatField(allow_null=True)
    after_per_month = serializers.FloatField(allow_null=True)


class MonthCountSerializer(serializers.Serializer):
    month = serializers.CharField(help_text="YYYY-MM")
    period = serializers.ChoiceField(
        choices=["before", "during", "after"],
        help_text="during: the month it was done in, left out of both windows.",
    )
    near = serializers.IntegerField(help_text="Reports within the radius.")
    rest = serializers.IntegerField(help_text="Reports in the rest of the area.")


class AreaNameSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


class EvaluationSerializer(serializers.Serializer):
    intervention = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=Intervention.Kind.choices)
    kind_label = serializers.CharField()
    date = serializers.DateField()
    radius_m = serializers.IntegerField()
    area = AreaNameSerializer(allow_null=True, help_text="The control: the rest of this area.")
    reasons = serializers.ListField(
        child=serializers.CharField(), help_text="The reason codes whose unsafe reports count."
    )
    before = WindowSerializer()
    after = WindowSerializer(help_text="Whole months that have ended, up to EVALUATION_MONTHS.")
    left_out = serializers.CharField(help_text="The month it was done in (YYYY-MM).")
    near = GroupCountsSerializer(help_text="Reports within radius_m.")
    rest = GroupCountsSerializer(help_text="Reports in the rest of the area.")
    monthly = MonthCountSerializer(many=True)
    rate_ratio = serializers.FloatField(
        allow_null=True,
        help_text="(near after / near before) / (rest after / rest before); null when there "
        "is too little to say anything.",
    )
    ci_low = serializers.FloatField(allow_null=True, help_text="95% confidence interval.")
    ci_high = serializers.FloatField(allow_null=True)
    dispersion = serializers.FloatField(
        allow_null=True,
        help_text="What the Poisson variance was multiplied by for the interval: the "
        "month-to-month scatter of the reports near the site beyond Poisson's (at least 1). "
        "Null when there is no rate ratio.",
    )
    insufficient = serializers.ChoiceField(
        choices=["planned", "no_area", "no_months_after", "too_few_reports"],
        allow_null=True,
        help_text="Why there is no rate ratio; null when there is one.",
    )
    verdict = serializers.CharField(help_text="The result in plain words.")
    counted = serializers.CharField(help_text="Which reports were counted, in plain words.")


class InterventionEvaluationApi(PlannerApi):
    @extend_schema(
        operation_id="interventions_evaluation",
        summary="Did it work?",
        description=(
            "Unsafe reports per month within the intervention's radius (those whose "
            "reasons it addresses) before and after it, against the rest of its local "
            "policing area: the difference-in-differences rate ratio with its 95% "
            "confidence interval (from the standard error of the log, "
            "sqrt(dispersion * (1/a + 1/b + 1/c + 1/d)), the dispersion estimated from "
            "the monthly counts), and a verdict in plain words. With too few "
            "reports, no whole month after it yet, or a planned intervention, it says so "
            "and gives no ratio."
        ),
        parameters=[_intervention_id],
        responses={200: EvaluationSerializer, **planner_errors, **_not_found},
        tags=["interventions"],
    )
    def get(self, request: Request, intervention_id: int) -> Response:
        found = intervention_visible(scope=self.scope, intervention_id=intervention_id)
        if found is None:
            raise Http404("No intervention with this id that you can see.")
        return Response(intervention_evaluate(found).as_dict())


# The public list


class PublicActionSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Intervention.Kind.choices)
    kind_label = serializers.CharField()
    date = serializers.DateField(help_text="The day it was completed.")
    area = AreaNameSerializer(allow_null=True, help_text="The local policing area.")
    location = serializers.JSONField(
        help_text="A GeoJSON Point, rounded to 0.001 degree (about 100 m): the street, "
        "not the lamp column."
    )
    reports = serializers.IntegerField(
        allow_null=True,
        help_text="Unsafe reports nearby (within its radius, giving a reason it addresses) "
        "in the EVALUATION_MONTHS months before it; null when fewer than K_ANONYMITY.",
    )
    fewer_than = serializers.IntegerField(
        allow_null=True, help_text="K_ANONYMITY when `reports` is withheld, else null."
    )


class PublicActionPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = PublicActionSerializer(many=True)


PUBLIC_PAGE_SIZE = 50
PUBLIC_MAX_PAGE_SIZE = 200


def public_page_params(params: Any, *, page_size: int, max_page_size: int) -> dict[str, Any]:
    """``area`` (a local policing area), ``page`` and ``page_size``; a 400 names faults."""
    errors: dict[str, list[str]] = {}
    found: dict[str, Any] = {"area": None, "page": 1, "page_size": page_size}
    code = (params.get("area") or "").strip()
    if code:
        area = (
            Area.objects.filter(code=code, kind=Area.Kind.LOCAL_POLICING_AREA).defer("geom").first()
        )
        if area is None:
            errors["area"] = [f"No local policing area with the code {code!r}."]
        found["area"] = area
    for name, top in (("page", None), ("page_size", max_page_size)):
        text = (params.get(name) or "").strip()
        if not text:
            continue
        try:
            found[name] = whole_number(text, low=1, high=top)
        except ValueError as error:
            errors[name] = [str(error)]
    if errors:
        raise ValidationError(errors)
    return found


def public_action_body(action: Any) -> dict[str, Any]:
    return {
        "kind": action.kind,
        "kind_label": action.kind_label,
        "date": action.date,
        "area": (
            None
            if action.area_code is None
            else {"code": action.area_code, "name": action.area_name}
        ),
        "location": {"type": "Point", "coordinates": [action.longitude, action.latitude]},
        "reports": action.reports,
        "fewer_than": action.fewer_than,
    }


class PublicActionListApi(APIView):
    """Anyone may read it: what was done, where roughly, and how many reports led to it."""

    authentication_classes: list = []
    permission_classes: list = []

    @extend_schema(
        operation_id="public_actions_list",
        summary="You said, we did (public)",
        description=(
            "Completed interventions, newest first: kind, day, local policing area, a "
            "point rounded to about 100 m, and how many unsafe reports nearby led to it, "
            "given only when at least `K_ANONYMITY` (otherwise null, with `fewer_than`). "
            "No notes, costs or names, and never a report's location. Paginated by `page` "
            "and `page_size` (50; at most 200); cached for a few minutes."
        ),
        parameters=[
            OpenApiParameter(
                "area", OpenApiTypes.STR, description="The code of a local policing area."
            ),
            *page_parameters(
                f"Actions a page ({PUBLIC_PAGE_SIZE}; at most {PUBLIC_MAX_PAGE_SIZE}).",
                most=PUBLIC_MAX_PAGE_SIZE,
            ),
        ],
        responses={
            200: PublicActionPageSerializer,
            400: OpenApiResponse(ErrorSerializer, description="A malformed parameter, named."),
        },
        tags=["public"],
    )
    def get(self, request: Request) -> Response:
        asked = public_page_params(
            request.query_params, page_size=PUBLIC_PAGE_SIZE, max_page_size=PUBLIC_MAX_PAGE_SIZE
        )
        page, size = asked["page"], asked["page_size"]
        total, actions = public_actions(area=asked["area"], offset=(page - 1) * size, limit=size)
        url = request.build_absolute_uri()
        response = Response(
            {
                "count": total,
                "next": replace_query_param(url, "page", page + 1) if page * size < total else None,
                "previous": (
                    None
                    if page == 1
                    else remove_query_param(url, "page")
                    if page == 2
                    else replace_query_param(url, "page", page - 1)
                ),
                "results": [public_action_body(action) for action in actions],
            }
        )
        patch_cache_control(
            response, public=True, max_age=min(60, settings.PUBLIC_ACTIONS_CACHE_SECONDS)
        )
        return response
