"""What is already covered, and the demand that is left: the rule every layer shares.

A report is *demand* for an intervention when it is unsafe and one of its reasons maps to
the intervention (``reports.reasons``). It is *covered* for lighting when a working light
lies within ``LIGHT_RADIUS_M`` of it, and for CCTV when a working public-space camera lies
within ``CAMERA_RADIUS_M``. Demand is weighted as the hotspot scores are
(``geo.hotspots.weights``: severity, halved every half-life).

The SQL fragments here are written against ``reports_report r`` (``covered_sql`` and
``reached_sql`` against any point), in the analysis SRID, so nothing is transformed per
query.

How "covered" is found fast. Probing the assets' GiST index once per report costs a few
microseconds (an index rescan each time): seconds over a force's million reports. So the
working assets are also laid on a square grid whose side is twice the radius and 2 mm,
each asset once for every cell that the square of its reach (the radius and 1 mm, each
way) overlaps: at most two columns by two rows. Whatever lies within the radius of an
asset lies in that square, so in one of those cells, and a report need only be compared
with the assets listed in its own cell: an equality on (column, row), which PostgreSQL
answers by hashing the assets once and looking each report up. ``ST_DWithin`` still
decides, so the answer is exactly the plain ``ST_DWithin`` test's: the cells only choose
what to compare, and the millimetre is far more than floating-point rounding could move a
point at the radius across a cell's edge.

``covered_sql`` is for WHERE clauses, where it and ``NOT`` it become a semi- and an
anti-join: the planner picks the hash (or merge) join on the cells, or, where that is
cheaper (few reports, many assets), the GiST probes, report by report. ``reached_sql``,
whether a report's cell is one an asset reaches into at all, settles most reports at the
cost of one hash lookup where assets are few, before any join.
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


def coverage_params(need: Need) -> dict[str, Any]:
    """The parameters of ``covered_sql`` and ``reached_sql``."""
    return {"cover_radius": coverage_radius(need)}


def demand_sql(need: Need) -> tuple[str, dict[str, Any]]:
    """A condition on ``r``: the report is unsafe and demand for ``need``."""
    return (
        "(r.feeling = 'unsafe' AND (r.reason_bits & %(demand_mask)s) <> 0)",
        {"demand_mask": demand_mask(need)},
    )


# The assets that cover, by intervention: their table and which of its rows work.
_COVERING = {
    Need.LIGHTING: ("geo_streetlight", "a.working"),
    Need.CCTV: ("geo_camera", "a.working AND a.kind = 'public_space'"),
}
_RADIUS = "%(cover_radius)s::float8"
# The grid's side, and how far an asset's reach is taken to go (the module's docstring).
_SIDE = f"(2.0 * {_RADIUS} + 0.002)"
_REACH = f"({_RADIUS} + 0.001)"
# && compares single-precision boxes, rounded outward: a point that passes ``&& box`` may
# lie some centimetres outside the box, and its covering asset as far beyond the radius.
_NEAR_MARGIN = 10.0


def _column(point: str) -> str:
    return f"floor(ST_X({point}) / {_SIDE})::bigint"


def _row(point: str) -> str:
    return f"floor(ST_Y({point}) / {_SIDE})::bigint"


# A cell that the reach of ``a`` overlaps: the first column and row it reaches into, plus
# di and dj (0 or 1) of _ON_THE_GRID.
_REACHED_COLUMN = f"floor((ST_X(a.location_projected) - {_REACH}) / {_SIDE})::bigint + di"
_REACHED_ROW = f"floor((ST_Y(a.location_projected) - {_REACH}) / {_SIDE})::bigint + dj"


def _on_the_grid(need: Need, near: str | None) -> str:
    """FROM and WHERE: each working asset ``a`` four times, with di and dj; with ``near``,
    only the assets within reach of that box."""
    table, working = _COVERING[need]
    if near is not None:
        working += f" AND a.location_projected && ST_Expand({near}, {_RADIUS} + {_NEAR_MARGIN})"
    return (
        f"{table} a CROSS JOIN generate_series(0, 1) AS di"
        f" CROSS JOIN generate_series(0, 1) AS dj WHERE {working}"
    )


def covered_sql(
    need: Need, *, point: str = "r.location_projected", near: str | None = None
) -> tuple[str, dict[str, Any]]:
    """A condition for a WHERE clause: an existing working asset lies within the radius
    of ``point``, an SQL expression of a point in the analysis SRID (the report's, by
    default). ``near``, an SQL box (analysis SRID) that ``point`` passes ``&&`` with,
    limits the assets looked at to those within reach of the box.

    In a select list it would be a probe of the assets' index for each row: split the
    rows with ``covered_sql`` and ``NOT covered_sql`` instead, as coverage_cells.sql does.
    """
    sql = f"""EXISTS (
        SELECT 1 FROM {_on_the_grid(need, near)}
            AND {_REACHED_COLUMN} = {_column(point)}
            AND {_REACHED_ROW} = {_row(point)}
            AND ST_DWithin(a.location_projected, {point}, %(cover_radius)s)
    )"""
    return sql, coverage_params(need)


def reached_sql(need: Need, *, point: str, near: str) -> tuple[str, dict[str, Any]]:
    """A value: whether ``point`` lies in a cell that the reach of a working asset near
    the box ``near`` overlaps. What ``covered_sql`` holds for ``point`` only if this does,
    and far cheaper: the cells are hashed once, then each row is one lookup, in a select
    list as in a WHERE clause. Where assets are few (cameras) most reports are settled
    by it, so that ``covered_sql`` need only join the others.

    The cells are those of the assets near the box, so that the set stays as small as the
    box allows: PostgreSQL hashes it only while it expects it to fit in ``work_mem``, and
    expects few assets near a box it cannot see at planning time (a CTE's).
    """
    sql = f"""(({_column(point)}, {_row(point)}) IN (
        SELECT {_REACHED_COLUMN}, {_REACHED_ROW} FROM {_on_the_grid(need, near)}
    ))"""
    return sql, coverage_params(need)


def uncovered_demand_sql(need: Need) -> tuple[str, dict[str, Any]]:
    """A condition on ``r``: demand for ``need`` that no existing asset covers."""
    demand, demand_params = demand_sql(need)
    covered, covered_params = covered_sql(need)
    return f"({demand} AND NOT {covered})", {**demand_params, **covered_params}
