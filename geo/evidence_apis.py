"""``GET /api/v1/areas/{code}/evidence``: an area's evidence pack, as HTML or PDF."""

import math
from typing import Any

from django.conf import settings
from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request

from geo.apis import PlannerApi, listed_parameter, planner_errors
from geo.coverage import Need
from geo.evidence import evidence_html, evidence_pack, evidence_pdf
from geo.models import Area
from geo.selectors import area_inside_ids
from streetsafe.errors import ErrorSerializer

# The page carries its own styles and no script at all.
EVIDENCE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _finite(value: float) -> None:
    if not math.isfinite(value):
        raise serializers.ValidationError("Must be a finite number.")


class EvidenceQuerySerializer(serializers.Serializer):
    """The query string, which is also the operation's documented parameters (with
    ``intervention`` documented as the list it is read as)."""

    format = serializers.ChoiceField(
        choices=["html", "pdf"],
        default="html",
        help_text="html (shown in the browser) or pdf (a download).",
    )
    intervention = serializers.CharField(default="lighting,cctv")
    budget = serializers.FloatField(
        min_value=1,
        required=False,
        validators=[_finite],
        help_text="Pounds to spend on each intervention, at least 1 (default EVIDENCE_BUDGET).",
    )
    unit_cost = serializers.FloatField(
        min_value=1,
        required=False,
        validators=[_finite],
        help_text="Pounds a site, at least 1, with one intervention only (default its setting).",
    )

    def validate_intervention(self, value: str) -> list[Need]:
        codes = [code.strip() for code in value.split(",") if code.strip()]
        known = {need.value for need in Need}
        unknown = [code for code in codes if code not in known]
        if unknown or not codes:
            raise serializers.ValidationError(
                f"Give lighting, cctv or both (comma-separated), not {value!r}."
            )
        return [Need(code) for code in dict.fromkeys(codes)]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "unit_cost" in attrs and len(attrs["intervention"]) > 1:
            raise serializers.ValidationError(
                {"unit_cost": ["Give a unit cost with one intervention only."]}
            )
        return attrs


def default_unit_cost(need: Need) -> float:
    if need is Need.LIGHTING:
        return float(settings.PRIORITIES_UNIT_COST_LIGHTING)
    return float(settings.PRIORITIES_UNIT_COST_CCTV)


class EvidencePackApi(PlannerApi):
    @extend_schema(
        operation_id="areas_evidence",
        summary="Evidence pack for an area",
        description=(
            "A page to attach to a funding bid or a parish council paper: what people "
            "reported in the area (counts, reasons, times, the monthly trend), a map of hot "
            "spots and of the chosen sites, the top places, where a budget for street "
            "lighting and CCTV would cover the most uncovered demand (the same choice as "
            "`/api/v1/priorities`, with costs and running totals), and whether past "
            "interventions in the area worked. As HTML (shown in the browser) or PDF (a "
            "download). An area your organisation does not cover is a 404."
        ),
        parameters=[
            EvidenceQuerySerializer,
            listed_parameter(
                "intervention",
                [need.value for need in Need],
                "lighting, cctv or both, comma-separated (default both).",
            ),
        ],
        responses={
            (200, "text/html"): OpenApiResponse(OpenApiTypes.STR, description="The page."),
            (200, "application/pdf"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The page as PDF."
            ),
            404: OpenApiResponse(ErrorSerializer, description="No such area that you can see."),
            **planner_errors,
        },
        tags=["priorities"],
    )
    def get(self, request: Request, code: str) -> HttpResponse:
        query = EvidenceQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        asked = query.validated_data
        area = Area.objects.filter(code=code).first()
        scope = self.scope
        if area is None or area.pk not in scope.area_ids:
            raise Http404(f"No area with the code {code!r} that you can see.")
        needs: list[Need] = asked["intervention"]
        unit_costs = {need: asked.get("unit_cost") or default_unit_cost(need) for need in needs}
        pack = evidence_pack(
            area=area,
            area_ids=[pk for pk in area_inside_ids(area) if pk in scope.area_ids],
            needs=needs,
            budget=asked.get("budget") or settings.EVIDENCE_BUDGET,
            unit_costs=unit_costs,
        )
        if asked["format"] == "pdf":
            response = HttpResponse(evidence_pdf(pack), content_type="application/pdf")
            response["Content-Disposition"] = f'attachment; filename="{pack.filename}.pdf"'
            return response
        response = HttpResponse(evidence_html(pack), content_type="text/html; charset=utf-8")
        response["Content-Disposition"] = f'inline; filename="{pack.filename}.html"'
        response["Content-Security-Policy"] = EVIDENCE_CSP
        return response
