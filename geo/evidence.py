"""The evidence pack: one area's case for spending, as a page to attach to a funding bid.

It puts together what the planner layers already answer (the area's counts and trend, its
top places, the budgeted choice of sites, the evaluation of past interventions) with a map,
and renders it as HTML or, through WeasyPrint, as PDF. The map is an SVG drawn by PostGIS
(``ST_AsSVG`` in the metric analysis SRID), so it needs no tile server or browser and looks
the same in both.
"""

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from geo.coverage import Need, coverage_radius
from geo.evaluation import Evaluation, intervention_evaluate
from geo.models import Area, Intervention
from geo.priorities import Priorities, priorities_choose
from geo.selectors import AreaSummary, area_summary

# The map is drawn this many units wide; its height follows the area's shape.
MAP_WIDTH = 1000
# Hexagons narrower than this share of the map's width would be specks: the map takes the
# finest resolution whose cells are at least this wide.
MAP_MIN_CELL_SHARE = 1 / 400
HOT_COLOURS = {1: "#fdae61", 2: "#f46d43", 3: "#d73027"}


@dataclass(frozen=True)
class EvaluatedIntervention:
    intervention: Intervention
    evaluation: Evaluation


@dataclass(frozen=True)
class EvidencePack:
    area: Area
    generated_at: datetime
    summary: AreaSummary
    priorities: list[Priorities]
    interventions: list[EvaluatedIntervention]
    map_svg: SafeString
    map_resolution: int | None
    budget: float

    @property
    def filename(self) -> str:
        code = re.sub(r"[^A-Za-z0-9_-]", "-", self.area.code)
        return f"evidence-{code}-{self.generated_at:%Y-%m-%d}"


def evidence_pack(
    *,
    area: Area,
    area_ids: Collection[int],
    needs: Sequence[Need],
    budget: float,
    unit_costs: dict[Need, float],
    now: datetime | None = None,
) -> EvidencePack:
    """Everything the pack shows for ``area``, limited to ``area_ids`` (the planner's scope
    within it)."""
    now = now or timezone.now()
    inside = sorted(area_ids)
    priorities = [
        priorities_choose(
            need=need,
            budget=budget,
            unit_cost=unit_costs[need],
            radius=coverage_radius(need),
            area_ids=inside,
            area_code=area.code,
        )
        for need in needs
    ]
    done = (
        Intervention.objects.filter(area_id__in=inside, date__lte=timezone.localdate(now))
        .select_related("area")
        .order_by("-date", "pk")[: settings.EVIDENCE_MAX_INTERVENTIONS]
    )
    interventions = [
        EvaluatedIntervention(item, intervention_evaluate(item, now=now)) for item in done
    ]
    svg, resolution = evidence_map(
        area=area, area_ids=inside, priorities=priorities, interventions=list(done)
    )
    return EvidencePack(
        area=area,
        generated_at=now,
        summary=area_summary(area=area, top=settings.EVIDENCE_TOP_PLACES),
        priorities=priorities,
        interventions=interventions,
        map_svg=svg,
        map_resolution=resolution,
        budget=budget,
    )


def evidence_html(pack: EvidencePack) -> str:
    return render_to_string(
        "geo/evidence.html",
        {
            "pack": pack,
            "monthly_max": max((n for _, n in pack.summary.monthly), default=0) or 1,
            "k_anonymity": settings.K_ANONYMITY,
            "light_radius": settings.LIGHT_RADIUS_M,
            "camera_radius": settings.CAMERA_RADIUS_M,
            "half_life_days": settings.HOTSPOT_HALF_LIFE_DAYS,
        },
    )


def evidence_pdf(pack: EvidencePack) -> bytes:
    # Imported here: WeasyPrint loads Pango when imported, which nothing else needs.
    from weasyprint import HTML

    pdf: bytes = HTML(string=evidence_html(pack), base_url=None).write_pdf()
    return pdf


# The map


_OUTLINE_SQL = """
    SELECT ST_XMin(g), ST_YMin(g), ST_XMax(g), ST_YMax(g), ST_AsSVG(g, 0, 0)
    FROM (
        SELECT ST_Transform(ST_SimplifyPreserveTopology(geom, %(tolerance)s), %(srid)s) AS g
        FROM geo_area WHERE id = %(area)s
    ) outline
"""

# Hot spots (90% confidence and up) of the live generation at one resolution, drawn from
# (resolution, i, j) as the tiles draw them.
_HOT_CELLS_SQL = """
    SELECT c.gi_class, ST_AsSVG(ST_Hexagon(%(size)s, c.i, c.j), 0, 0)
    FROM geo_hotspotcell c
    JOIN geo_hotspotgeneration g ON g.id = c.generation_id AND g.status = 'live'
    WHERE c.slice_id IS NULL AND c.resolution = %(resolution)s AND c.gi_class > 0
      AND c.area_id = ANY(%(areas)s)
    ORDER BY c.gi_class
"""

# The existing assets that cover each need, inside the areas: what the sites are chosen
# around. At most MAP_MAX_ASSETS of each, as dots.
_ASSETS_SQL = {
    Need.LIGHTING: """
        SELECT ST_X(a.location_projected), ST_Y(a.location_projected) FROM geo_streetlight a
        WHERE a.working AND EXISTS (
            SELECT 1 FROM geo_areapart part
            WHERE part.area_id = ANY(%(areas)s) AND ST_Intersects(part.geom, a.location)
        )
        LIMIT %(limit)s
    """,
    Need.CCTV: """
        SELECT ST_X(a.location_projected), ST_Y(a.location_projected) FROM geo_camera a
        WHERE a.working AND a.kind = 'public_space' AND EXISTS (
            SELECT 1 FROM geo_areapart part
            WHERE part.area_id = ANY(%(areas)s) AND ST_Intersects(part.geom, a.location)
        )
        LIMIT %(limit)s
    """,
}
ASSET_COLOURS = {Need.LIGHTING: "#d9a400", Need.CCTV: "#7b3294"}
MAP_MAX_ASSETS = 20000

_POINTS_SQL = """
    SELECT ST_X(p), ST_Y(p)
    FROM unnest(%(lon)s::float8[], %(lat)s::float8[]) WITH ORDINALITY AS t(lon, lat, n),
         ST_Transform(ST_SetSRID(ST_MakePoint(t.lon, t.lat), 4326), %(srid)s) AS p
    ORDER BY t.n
"""


def evidence_map(
    *,
    area: Area,
    area_ids: Collection[int],
    priorities: Sequence[Priorities],
    interventions: Sequence[Intervention],
) -> tuple[SafeString, int | None]:
    """The area's outline, its hot spots, the working lights and public-space cameras that
    already cover reports, the chosen sites numbered in order (a letter per intervention when
    there are several) and past interventions, as inline SVG; and the hexagon resolution
    drawn."""
    srid = settings.ANALYSIS_SRID
    with connection.cursor() as cursor:
        cursor.execute(_OUTLINE_SQL, {"tolerance": 0.0005, "srid": srid, "area": area.pk})
        minx, miny, maxx, maxy, outline = cursor.fetchone()
        width, height = max(maxx - minx, 1.0), max(maxy - miny, 1.0)
        resolution = _map_resolution(width)
        cells: list[tuple[int, str]] = []
        if resolution is not None:
            cursor.execute(
                _HOT_CELLS_SQL,
                {"size": resolution / 2, "resolution": resolution, "areas": list(area_ids)},
            )
            cells = cursor.fetchall()
        assets: dict[Need, list[tuple[float, float]]] = {}
        for plan in priorities:
            cursor.execute(
                _ASSETS_SQL[plan.need], {"areas": list(area_ids), "limit": MAP_MAX_ASSETS}
            )
            assets[plan.need] = cursor.fetchall()
        sites = [(p, site) for p in priorities for site in p.sites]
        points = [(site.longitude, site.latitude) for _, site in sites] + [
            (item.location.x, item.location.y) for item in interventions
        ]
        projected: list[tuple[float, float]] = []
        if points:
            cursor.execute(
                _POINTS_SQL,
                {"lon": [x for x, _ in points], "lat": [y for _, y in points], "srid": srid},
            )
            projected = cursor.fetchall()

    # ST_AsSVG writes y negated (SVG's y grows downwards), so the box starts at -maxy.
    pad = max(width, height) * 0.03
    box = (minx - pad, -maxy - pad, width + 2 * pad, height + 2 * pad)
    unit = box[2] / MAP_WIDTH
    shapes = [
        format_html(
            '<path d="{}" fill="#f4f4f0" stroke="#555" stroke-width="{}"/>', outline, 1.5 * unit
        )
    ]
    shapes += [
        format_html('<path d="{}" fill="{}" stroke="none"/>', d, HOT_COLOURS[min(cls, 3)])
        for cls, d in cells
    ]
    for need, dots in assets.items():
        shapes += [
            format_html(
                '<circle cx="{}" cy="{}" r="{}" fill="{}" fill-opacity="0.8"/>',
                round(x, 1),
                round(-y, 1),
                2.5 * unit,
                ASSET_COLOURS[need],
            )
            for x, y in dots
        ]
    lettered = len(priorities) > 1
    for (plan, site), (x, y) in zip(sites, projected, strict=False):
        label = f"{plan.need.value[0].upper()}{site.rank}" if lettered else str(site.rank)
        shapes.append(
            format_html(
                '<g><circle cx="{x}" cy="{y}" r="{r}" fill="#1f4e9c" stroke="#fff"'
                ' stroke-width="{w}"/><text x="{x}" y="{ty}" font-size="{f}" fill="#fff"'
                ' text-anchor="middle" font-family="DejaVu Sans, sans-serif">{label}</text></g>',
                x=round(x, 1),
                y=round(-y, 1),
                ty=round(-y + 4 * unit, 1),
                r=11 * unit,
                w=1.5 * unit,
                f=11 * unit,
                label=label,
            )
        )
    for x, y in projected[len(sites) :]:
        s = 7 * unit
        shapes.append(
            format_html(
                '<path d="M {} {} l {} {} l {} 0 z" fill="#1a9850" stroke="#fff"'
                ' stroke-width="{}"/>',
                round(x - s, 1),
                round(-y + s, 1),
                s,
                -2 * s,
                s,
                unit,
            )
        )
    svg = format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="{} {} {} {}" width="100%"'
        ' role="img" aria-label="Map of {}">{}</svg>',
        *(round(v, 1) for v in box),
        area.name,
        format_html_join("", "{}", ((shape,) for shape in shapes)),
    )
    return mark_safe(svg), resolution  # noqa: S308 - every part escaped by format_html


def _map_resolution(width: float) -> int | None:
    """The finest hotspot resolution whose hexagons are not specks on a map this wide."""
    wide_enough = [
        r for r in sorted(settings.HOTSPOT_RESOLUTIONS) if r >= width * MAP_MIN_CELL_SHARE
    ]
    return wide_enough[0] if wide_enough else max(settings.HOTSPOT_RESOLUTIONS, default=None)
