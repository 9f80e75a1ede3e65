"""Reads of the analysis for the map and the API: one query each, from the live generation.

Every selector reaches the live generation inside the same statement as its rows (a join
on the generation's status), so a rebuild's swap can never show a reader half a result.
"""

import json
import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.gis.db.models import PolygonField
from django.contrib.gis.geos import Polygon
from django.db import connection
from django.db.models import Case, F, QuerySet, TextField, Value, When
from django.db.models.expressions import RawSQL

from geo.filters import LayerFilters, bbox_projected_extent, default_resolution, report_q
from geo.hotspots.aggregate import Slice
from geo.hotspots.grid import SQRT3, grid_for
from geo.hotspots.slices import live_slice
from geo.hotspots.stats import mann_kendall
from geo.models import Area, HotspotCell, HotspotGeneration, Place
from reports.models import Report
from reports.reasons import REASON_CODES

BBox = tuple[float, float, float, float]

# The cell's hexagon in WGS84, rebuilt from (resolution, i, j): the origin must carry the
# analysis SRID for ST_Hexagon to place it.
_HEXAGON = (
    "ST_Transform(ST_Hexagon(geo_hotspotcell.resolution / 2.0, geo_hotspotcell.i, "
    "geo_hotspotcell.j, ST_SetSRID(ST_MakePoint(0, 0), %s)), 4326)"
)


def live_generation() -> HotspotGeneration | None:
    return HotspotGeneration.objects.filter(status=HotspotGeneration.Status.LIVE).first()


def _grid_ranges(resolution: int, bbox: BBox) -> tuple[int, int, int, int]:
    """i and j ranges of the cells that can touch a WGS84 bbox (a superset)."""
    xmin, ymin, xmax, ymax = bbox_projected_extent(bbox)
    size = grid_for(resolution).size
    w, h = 1.5 * size, SQRT3 * size
    return (
        math.floor(xmin / w) - 1,
        math.ceil(xmax / w) + 1,
        math.floor(ymin / h) - 1,
        math.ceil(ymax / h) + 1,
    )


def hotspot_cells(
    *,
    resolution: int,
    bbox: BBox | None = None,
    area: Area | None = None,
    classes: list[int] | None = None,
    selection: Slice | None = None,
) -> QuerySet[HotspotCell]:
    """The live generation's cells of one resolution, with ``hexagon`` (WGS84) annotated.

    ``bbox`` is (min lon, min lat, max lon, max lat); ``classes`` Gi* classes (-3..3).
    With a ``selection`` (reasons, time band, dates) the cells are those of that slice of
    the reports, with its own counts and Gi* (``geo.hotspots.slices``): built on the first
    ask (a second or two at a million reports), then one more query than without.
    """
    if selection is None or selection.everything:
        cells = HotspotCell.objects.filter(
            generation__status=HotspotGeneration.Status.LIVE,
            slice__isnull=True,
            resolution=resolution,
        )
    else:
        found = live_slice(selection, resolution=resolution)
        if found is None:
            return HotspotCell.objects.none()
        # By the slice itself: it stays what was asked for even if a rebuild has just
        # swapped in a new generation.
        cells = HotspotCell.objects.filter(slice=found, resolution=resolution)
    cells = cells.annotate(
        # A constant SQL text with the SRID bound as a parameter.
        hexagon=RawSQL(  # noqa: S611
            _HEXAGON, [settings.ANALYSIS_SRID], output_field=PolygonField(srid=4326)
        )
    )
    if bbox is not None:
        imin, imax, jmin, jmax = _grid_ranges(resolution, bbox)
        envelope = Polygon.from_bbox(bbox)
        envelope.srid = 4326
        cells = cells.filter(
            i__gte=imin, i__lte=imax, j__gte=jmin, j__lte=jmax, hexagon__intersects=envelope
        )
    if area is not None:
        cells = cells.filter(area=area)
    if classes:
        cells = cells.filter(gi_class__in=classes)
    return cells.order_by("i", "j")


def places(*, area: Area | None = None, bbox: BBox | None = None) -> QuerySet[Place]:
    """The live generation's places, biggest first."""
    found = Place.objects.filter(generation__status=HotspotGeneration.Status.LIVE)
    if area is not None:
        found = found.filter(area=area)
    if bbox is not None:
        envelope = Polygon.from_bbox(bbox)
        envelope.srid = 4326
        found = found.filter(centroid__intersects=envelope)
    return found.order_by("-report_count", "pk")


@dataclass(frozen=True)
class AreaSummary:
    area: Area
    unsafe: int
    safe: int
    by_reason: dict[str, int]
    by_band: dict[str, int]
    # Unsafe reports per month ("YYYY-MM"), oldest first: the twelve months up to the
    # latest with a report (from the first with one, if later), a month without any as 0.
    monthly: list[tuple[str, int]]
    trend: str  # "rising", "falling" or "no clear trend"
    trend_p: float | None
    top_places: list[dict[str, Any]]


# The reports a summary counts: those of an area, or those inside a place's hull.
# An area's own reports and those of the areas inside it: reports and places carry their
# local policing area, so a force's summary is that of its policing areas.
_INSIDE_SQL = """
    WITH RECURSIVE inside(id) AS (
        SELECT %(area)s::bigint
        UNION SELECT a.id FROM geo_area a JOIN inside ON a.parent_id = inside.id
    )
    SELECT id FROM inside
"""
_AREA_REPORTS = f"WHERE area_id IN ({_INSIDE_SQL})"
_PLACE_REPORTS = (
    "WHERE ST_Covers((SELECT hull FROM geo_place WHERE id = %(place)s), location)"
    " AND area_id = %(area)s"
)

# One pass over the reports, grouped by month (a few dozen groups): each month's unsafe and
# safe counts, and its unsafe reports by reason and by time band; Python adds the months
# up. Counting by reason as a join with a series of bits made a row per report and reason:
# fifteen million rows for a force's million reports, and seconds instead of a fraction.
_SUMMARY_SQL = """
WITH per_month AS (
    SELECT felt_month,
           count(*) FILTER (WHERE feeling = 'unsafe') AS unsafe,
           count(*) FILTER (WHERE feeling = 'safe') AS safe,
           ARRAY[{by_reason}] AS by_reason,
           ARRAY[{by_band}] AS by_band
    FROM reports_report
    {which}
    GROUP BY felt_month
)
SELECT
    (SELECT json_agg(json_build_array(felt_month, unsafe, safe, by_reason, by_band))
     FROM per_month),
    (SELECT json_agg(json_build_object(
        'id', p.id, 'label', p.label, 'reports', p.report_count,
        'top_reasons', p.top_reasons, 'night_share', p.night_share
     ) ORDER BY p.report_count DESC, p.id)
     FROM (
        SELECT place.* FROM geo_place place
        JOIN geo_hotspotgeneration g ON g.id = place.generation_id AND g.status = 'live'
        WHERE place.area_id IN ({inside})
        ORDER BY place.report_count DESC, place.id
        LIMIT %(top)s
     ) p)
"""

BAND_NAMES = ("day", "evening", "night", "unknown")
# The months the summary's series shows: up to the latest with an unsafe report.
SUMMARY_MONTHS = 12
_BY_REASON_SQL = ", ".join(
    f"count(*) FILTER (WHERE feeling = 'unsafe' AND reason_bits & {1 << bit} <> 0)"
    for bit in range(len(REASON_CODES))
)
_BY_BAND_SQL = ", ".join(
    f"count(*) FILTER (WHERE feeling = 'unsafe' AND felt_band = {band})"
    for band in range(len(BAND_NAMES))
)


def area_inside_ids(area: Area) -> list[int]:
    """The area's id and those of every area inside it, in one query."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM ({_INSIDE_SQL}) inside ORDER BY id",
            {"area": area.pk},
        )
        return [area_id for (area_id,) in cursor.fetchall()]


def area_summary(*, area: Area, top: int = 5) -> AreaSummary:
    """Counts by reason and time band, the monthly trend and the top places of an area.

    Counts come from the reports themselves, so they are exact for the area; the places
    from the live generation.
    """
    counts, top_places = _summary_counts(
        _AREA_REPORTS, {"area": area.pk, "reasons": len(REASON_CODES), "top": top}
    )
    if isinstance(top_places, str):
        top_places = json.loads(top_places)
    return AreaSummary(area=area, **counts, top_places=top_places or [])


def _summary_counts(which: str, params: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """The summary's counts, monthly series and trend; and its top places, as read."""
    sql = _SUMMARY_SQL.format(
        which=which, inside=_INSIDE_SQL, by_reason=_BY_REASON_SQL, by_band=_BY_BAND_SQL
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        per_month, top_places = cursor.fetchone()
    if isinstance(per_month, str):
        per_month = json.loads(per_month)
    per_month = per_month or []
    reasons = [0] * len(REASON_CODES)
    bands = [0] * len(BAND_NAMES)
    unsafe_in: dict[int, int] = {}
    for month, unsafe, _safe, by_reason, by_band in per_month:
        reasons = [total + n for total, n in zip(reasons, by_reason, strict=True)]
        bands = [total + n for total, n in zip(bands, by_band, strict=True)]
        if unsafe:
            unsafe_in[month] = unsafe
    # The twelve months up to the latest with an unsafe report (fewer if the first came
    # later), a month without any as a zero.
    shown = (
        range(max(max(unsafe_in) - SUMMARY_MONTHS + 1, min(unsafe_in)), max(unsafe_in) + 1)
        if unsafe_in
        else range(0)
    )
    monthly = [(f"{m // 12}-{m % 12 + 1:02d}", unsafe_in.get(m, 0)) for m in shown]
    trend, trend_p = _trend([n for _, n in monthly])
    counts = {
        "unsafe": sum(row[1] for row in per_month),
        "safe": sum(row[2] for row in per_month),
        "by_reason": dict(zip(REASON_CODES, reasons, strict=True)),
        "by_band": dict(zip(BAND_NAMES, bands, strict=True)),
        "monthly": monthly,
        "trend": trend,
        "trend_p": trend_p,
    }
    return counts, top_places


def _trend(series: list[int]) -> tuple[str, float | None]:
    """Mann-Kendall on the monthly counts, at 95% confidence."""
    if len(series) < 3:
        return "no clear trend", None
    result = mann_kendall(np.array([series], dtype=np.float64))
    p = float(result.p[0])
    if p <= 0.05:
        return ("rising" if result.z[0] > 0 else "falling"), p
    return "no clear trend", p


# The planner layers: what one planner may see of each, under the layer filters. The
# GeoJSON endpoints, the tiles and the exports all read through these, so that a planner's
# map, their QGIS and their exports agree, and none reaches outside their scope.


def planner_hotspot_cells(
    *, filters: LayerFilters, area_ids: Collection[int] | None
) -> QuerySet[HotspotCell]:
    """``hotspot_cells`` under the filters, within the areas (None: all, as the public)."""
    cells = hotspot_cells(
        resolution=filters.resolution_or(default_resolution()),
        bbox=filters.bbox,
        area=filters.area,
        classes=list(filters.classes) or None,
        selection=filters.selection,
    )
    if area_ids is not None:
        cells = cells.filter(area_id__in=sorted(area_ids))
    return cells


def planner_places(*, filters: LayerFilters, area_ids: Collection[int]) -> QuerySet[Place]:
    return places(area=filters.area, bbox=filters.bbox).filter(area_id__in=sorted(area_ids))


def planner_reports(*, filters: LayerFilters, area_ids: Collection[int]) -> QuerySet[Report]:
    """Report points under the filters, newest first, with ``approved_text`` annotated.

    ``approved_text`` is the redacted text once a moderator approved it, and empty
    otherwise: pending and rejected text never leaves the database this way.
    """
    return (
        Report.objects.filter(report_q(filters, area_ids=area_ids))
        .annotate(
            approved_text=Case(
                When(text_state=Report.TextState.APPROVED, then=F("description_redacted")),
                default=Value(""),
                output_field=TextField(),
            )
        )
        .order_by("-received_at", "id")
    )


def public_hotspot_cells(*, bbox: BBox | None = None) -> QuerySet[HotspotCell]:
    """The public layer: cells of the coarsest resolution with at least ``K_ANONYMITY``
    unsafe reports each, so that no cell points at a handful of people."""
    return hotspot_cells(resolution=max(settings.HOTSPOT_RESOLUTIONS), bbox=bbox).filter(
        unsafe__gte=settings.K_ANONYMITY
    )


@dataclass(frozen=True)
class PlaceSummary:
    place: Place
    unsafe: int
    safe: int
    by_reason: dict[str, int]
    by_band: dict[str, int]
    monthly: list[tuple[str, int]]
    trend: str
    trend_p: float | None


def live_place(*, place_id: int, area_ids: Collection[int]) -> Place | None:
    """A place of the live generation inside the areas; None for any other."""
    return (
        Place.objects.filter(
            pk=place_id,
            generation__status=HotspotGeneration.Status.LIVE,
            area_id__in=sorted(area_ids),
        )
        .select_related("area")
        .first()
    )


def place_summary(*, place: Place) -> PlaceSummary:
    """Counts by reason and time band and the monthly trend of the reports inside a place's
    hull (of its area: a hull never reaches into another planner's area). One query."""
    counts, _ = _summary_counts(
        _PLACE_REPORTS,
        {"place": place.pk, "area": place.area_id, "reasons": len(REASON_CODES), "top": 0},
    )
    return PlaceSummary(place=place, **counts)
