"""The planner web map: one page for planners; the map itself runs in geo/static/geo/planner.js.

The page carries no data of its own beyond what the script needs to start (the reasons,
the organisation's name, where the layers and MapLibre's worker are): every layer comes
from the vector tiles and every detail from the GeoJSON API, both scoped to the planner.
"""

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.views.decorators.http import require_safe

from geo.access import planner_scope
from geo.coverage import Need, coverage_radius
from geo.hotspots.aggregate import BANDS
from geo.models import Camera, Intervention
from reports.reasons import REASONS

BAND_LABELS = {
    "day": "Day (07:00 to 19:00)",
    "evening": "Evening (19:00 to 23:00)",
    "night": "Night (23:00 to 07:00)",
    "unknown": "Time not given",
}

GI_CLASSES = (
    (3, "Hot spot, 99% confidence"),
    (2, "Hot spot, 95% confidence"),
    (1, "Hot spot, 90% confidence"),
    (0, "Not significant"),
    (-1, "Cold spot, 90% confidence"),
    (-2, "Cold spot, 95% confidence"),
    (-3, "Cold spot, 99% confidence"),
)

EXPORT_LAYERS = (("hotspots", "Hotspots"), ("places", "Places"), ("reports", "Reports"))
EXPORT_FORMATS = ("csv", "geojson", "gpkg")

# What the budget control starts at: a typical small Safer Streets grant, in pounds.
DEFAULT_BUDGET = 50_000

TILE_LAYERS = (
    "hotspots",
    "places",
    "reports",
    "streetlights",
    "cameras",
    "coverage-gaps",
    "interventions",
)
NEED_LABELS = {Need.LIGHTING: "Street lighting", Need.CCTV: "CCTV"}
# What a new site costs when the planner names no cost (geo.priorities' own defaults).
_UNIT_COST_SETTINGS = {
    Need.LIGHTING: "PRIORITIES_UNIT_COST_LIGHTING",
    Need.CCTV: "PRIORITIES_UNIT_COST_CCTV",
}


def planner_config(*, organisation_name: str) -> dict[str, Any]:
    """What planner.js reads at start, as JSON in the page."""
    return {
        "organisation": organisation_name,
        "reasons": [{"code": reason.code, "label": reason.label} for reason in REASONS],
        "bands": [{"code": band, "label": BAND_LABELS[band]} for band in BANDS],
        "classes": [{"code": code, "label": label} for code, label in GI_CLASSES],
        "resolutions": sorted(settings.HOTSPOT_RESOLUTIONS),
        "basemap": settings.PLANNER_BASEMAP_URL,
        "worker": static("maplibre-gl/maplibre-gl-csp-worker.js"),
        "tiles": {layer: f"/tiles/{layer}/{{z}}/{{x}}/{{y}}.mvt" for layer in TILE_LAYERS},
        "api": {
            "config": "/api/v1/config",
            "areas": "/api/v1/areas",
            "hotspots": "/api/v1/hotspots",
            "places": "/api/v1/places",
            "exports": "/api/v1/exports",
            "priorities": "/api/v1/priorities",
        },
        "needs": [
            {
                "code": need.value,
                "label": NEED_LABELS[need],
                "radius": coverage_radius(need),
                "unit_cost": getattr(settings, _UNIT_COST_SETTINGS[need], None),
            }
            for need in Need
        ],
        "camera_kinds": [{"code": kind.value, "label": kind.label} for kind in Camera.Kind],
        "intervention_kinds": [
            {"code": kind.value, "label": kind.label} for kind in Intervention.Kind
        ],
    }


def content_security_policy() -> str:
    """Scripts, styles, workers and data from this site only (and the basemap's, if set).

    MapLibre's CSP build loads its worker from a static file, so no 'unsafe-eval' and no
    blob: scripts; its canvas and images need data: and blob: for images.
    """
    basemap = ""
    if settings.PLANNER_BASEMAP_URL:
        parts = urlsplit(settings.PLANNER_BASEMAP_URL)
        basemap = f" {parts.scheme}://{parts.netloc}"
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "worker-src 'self' blob:",
            "child-src 'self' blob:",
            f"img-src 'self' data: blob:{basemap}",
            f"connect-src 'self'{basemap}",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


@require_safe
def planner_map(request: HttpRequest) -> HttpResponse:
    """The map for planners; anyone else is sent to log in, or refused once logged in."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    scope = planner_scope(request)
    if scope is None:
        # The sign-in form again, saying why: another account may be a planner's.
        return render(
            request,
            "registration/login.html",
            {"form": AuthenticationForm(request), "next": request.path, "not_a_planner": True},
            status=403,
        )
    response = render(
        request,
        "geo/planner.html",
        {
            "organisation": scope.organisation,
            "config": planner_config(organisation_name=scope.organisation.name),
            "export_layers": EXPORT_LAYERS,
            "export_formats": EXPORT_FORMATS,
            "default_budget": DEFAULT_BUDGET,
        },
    )
    response["Content-Security-Policy"] = content_security_policy()
    return response
