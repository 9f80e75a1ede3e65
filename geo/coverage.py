"""What is already covered, and the demand that is left: the rule every layer shares.

A report is *demand* for an intervention when it is unsafe and one of its reasons maps to
the intervention (``reports.reasons``). It is *covered* for lighting when a working light
lies within ``LIGHT_RADIUS_M`` of it, and for CCTV when a working public-space camera lies
within ``CAMERA_RADIUS_M``. Demand is weighted as the hotspot scores are
(``geo.hotspots.weights``: severity, halved every half-life).

The SQL fragments here are written against ``reports_report r``; the distance tests use the
GiST indexes on the projected points, so nothing is transformed per query.
"""

from enum import StrEnum
from typing import Any

from django.conf import settings

from reports.reasons import REASON_CODES, REASONS
from reports.reasons import Intervention as ReasonIntervention


class Need(StrEnum):
    """The interventions whose coverage is measured against assets."""

    LIGHTING = "lighting"
    CCTV = "cctv"


def demand_reasons(need: Need) -> tuple[str, ...]:
    """The reason codes that make a report demand for ``need``, in list order."""
    return tuple(r.code for r in REASONS if ReasonIntervention(need.value) in r.interventions)


def demand_mask(need: Need) -> int:
    """``reports_report.reason_bits`` with the bits of ``demand_reasons(need)`` set."""
    return sum(1 << REASON_CODES.index(code) for code in demand_reasons(need))


def coverage_radius(need: Need) -> int:
    return settings.LIGHT_RADIUS_M if need is Need.LIGHTING else settings.CAMERA_RADIUS_M


def demand_sql(need: Need) -> tuple[str, dict[str, Any]]:
    """A condition on ``r``: the report is unsafe and demand for ``need``."""
    return (
        "(r.feeling = 'unsafe' AND (r.reason_bits & %(demand_mask)s) <> 0)",
        {"demand_mask": demand_mask(need)},
    )


def covered_sql(need: Need) -> tuple[str, dict[str, Any]]:
    """A condition on ``r``: an existing working asset already covers the report."""
    if need is Need.LIGHTING:
        sql = (
            "EXISTS (SELECT 1 FROM geo_streetlight a WHERE a.working"
            " AND ST_DWithin(a.location_projected, r.location_projected, %(cover_radius)s))"
        )
    else:
        sql = (
            "EXISTS (SELECT 1 FROM geo_camera a WHERE a.working AND a.kind = 'public_space'"
            " AND ST_DWithin(a.location_projected, r.location_projected, %(cover_radius)s))"
        )
    return sql, {"cover_radius": coverage_radius(need)}


def uncovered_demand_sql(need: Need) -> tuple[str, dict[str, Any]]:
    """A condition on ``r``: demand for ``need`` that no existing asset covers."""
    demand, demand_params = demand_sql(need)
    covered, covered_params = covered_sql(need)
    return f"({demand} AND NOT {covered})", {**demand_params, **covered_params}
