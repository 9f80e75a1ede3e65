"""Reads for the asset layers: street lights, cameras and the gaps in what they cover.

A planner sees the lights and cameras lying inside their organisation's areas, whoever
owns them (an asset register is about the street, not about who keeps it), and coverage
gaps made of the reports inside those areas only. The GeoJSON API and the vector tiles
read through here, so both mean the same by a filter and by "covered".

Coverage gaps are demand for an intervention (``geo.coverage``) binned in the hotspot
hexagons, split into the demand existing working assets already cover and what they
leave uncovered; the weights are the hotspot scores' (``geo.hotspots.weights``), taken at
the live generation's start so that a cell reads the same as long as the generation does.
"""

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.gis.db.models import Extent
from django.contrib.gis.geos import Polygon
from django.db import connection
from django.db.models import Exists, F, OuterRef, QuerySet
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from geo.coverage import Need, coverage_params, covered_sql, demand_sql, reached_sql
from geo.filters import BBox, LayerFilters, default_resolution, parse_layer_filters
from geo.hotspots.weights import WEIGHT_SQL, weight_parameters
from geo.models import Area, AreaPart, Camera, HotspotGeneration, Streetlight

_SQL = Path(__file__).parent / "sql" / "tiles"

# The filters each layer reads besides its own (working, kind, intervention).
ASSET_PARAMS = ("area", "in_bbox")
COVERAGE_GAP_PARAMS = ("resolution", "area", "in_bbox")

_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no")


@dataclass(frozen=True)
class AssetFilters:
    """What a planner asked of an asset layer; None or empty means no filter."""

    layer: LayerFilters = field(default_factory=LayerFilters)
    working: bool | None = None
    kinds: tuple[str, ...] = ()


def parse_asset_filters(
    params: Mapping[str, Any], *, cameras: bool, area_ids: Collection[int]
) -> AssetFilters:
    """``area``, ``in_bbox``, ``working`` (true or false) and, for cameras, ``kind`` (one
    or more of public_space, traffic, private). Raises ``ValidationError`` naming every
    faulty parameter at once."""
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    try:
        values["layer"] = parse_layer_filters(params, allowed=ASSET_PARAMS, area_ids=area_ids)
    except ValidationError as error:
        errors.update(error.detail)  # type: ignore[arg-type]

    working = _single(params, "working", errors)
    if working is not None:
        if working.lower() in _TRUE:
            values["working"] = True
        elif working.lower() in _FALSE:
            values["working"] = False
        else:
            errors["working"] = [f"{working!r} is not true or false."]

    if cameras:
        kinds = _listed(params, "kind")
        known = [choice.value for choice in Camera.Kind]
        unknown = [kind for kind in kinds if kind not in known]
        if unknown:
            errors["kind"] = [f"Unknown kind: {', '.join(unknown)}. Known: {', '.join(known)}."]
        elif kinds:
            values["kinds"] = tuple(sorted(set(kinds)))

    if errors:
        raise ValidationError(errors)
    return AssetFilters(**values)


def parse_need(params: Mapping[str, Any]) -> Need:
    """The ``intervention`` a coverage-gap layer is of: lighting (the default) or cctv."""
    errors: dict[str, list[str]] = {}
    text = _single(params, "intervention", errors)
    if errors:
        raise ValidationError(errors)
    if text is None:
        return Need.LIGHTING
    try:
        return Need(text.lower())
    except ValueError:
        choices = ", ".join(need.value for need in Need)
        raise ValidationError(
            {"intervention": [f"{text!r} is not an intervention with assets: one of {choices}."]}
        ) from None


def _raw(params: Mapping[str, Any], name: str) -> list[str]:
    if hasattr(params, "getlist"):
        found = params.getlist(name)
    else:
        value = params.get(name)
        found = [] if value is None else value if isinstance(value, list) else [value]
    return [str(v).strip() for v in found if str(v).strip() != ""]


def _single(params: Mapping[str, Any], name: str, errors: dict[str, list[str]]) -> str | None:
    found = _raw(params, name)
    if len(found) > 1:
        errors[name] = [f"Give {name} once, not {len(found)} times."]
        return None
    return found[0] if found else None


def _listed(params: Mapping[str, Any], name: str) -> list[str]:
    return [part.strip() for value in _raw(params, name) for part in value.split(",") if part]


# --------------------------------------------------------------------------------------
# Street lights and cameras
# --------------------------------------------------------------------------------------


def _inside(area_ids: Collection[int]) -> Exists:
    """The asset lies in one of the areas: their indexed pieces (``AreaPart``) hold it."""
    return Exists(
        AreaPart.objects.filter(area_id__in=sorted(area_ids), geom__intersects=OuterRef("location"))
    )


def _assets(
    model: type[Streetlight] | type[Camera], filters: AssetFilters, area_ids: Collection[int]
) -> QuerySet[Any]:
    layer = filters.layer
    found = model.objects.filter(_inside(area_ids))
    if layer.area is not None:
        found = found.filter(_inside([layer.area.pk]))
    if layer.bbox is not None:
        envelope = Polygon.from_bbox(layer.bbox)
        envelope.srid = 4326
        found = found.filter(location__intersects=envelope)
    if filters.working is not None:
        found = found.filter(working=filters.working)
    return found.annotate(owner_name=F("organisation__name")).order_by("pk")


def planner_streetlights(
    *, filters: AssetFilters, area_ids: Collection[int]
) -> QuerySet[Streetlight]:
    """The street lights inside the areas under the filters, by id, with ``owner_name``."""
    return _assets(Streetlight, filters, area_ids)


def planner_cameras(*, filters: AssetFilters, area_ids: Collection[int]) -> QuerySet[Camera]:
    """The cameras inside the areas under the filters, by id, with ``owner_name``."""
    found = _assets(Camera, filters, area_ids)
    if filters.kinds:
        found = found.filter(kind__in=filters.kinds)
    return found


# --------------------------------------------------------------------------------------
# Coverage gaps
# --------------------------------------------------------------------------------------


@cache
def coverage_cells_sql(need: Need) -> str:
    """coverage_cells.sql for ``need``, with named parameters (``coverage_cells_params``)."""
    demand, _ = demand_sql(need)
    # Among the assets near the search box: covered, of a demand report ``d`` (the
    # statement's CTE); reached, of a report ``r`` as it is read.
    near = "(SELECT box FROM search)"
    covered, _ = covered_sql(need, point="d.location", near=near)
    reached, _ = reached_sql(need, point="r.location_projected", near=near)
    # The weights are taken at the moment the statement works out once (its first CTE).
    weight = WEIGHT_SQL.replace("%(now)s", "(SELECT moment FROM moment)")
    return (
        (_SQL / "coverage_cells.sql")
        .read_text()
        .format(demand=demand, covered=covered, reached=reached, weight=weight)
    )


def coverage_cells_params(
    need: Need,
    *,
    box: BBox,
    area_ids: Collection[int],
    area: Area | None,
    resolution: int,
    generation: int | None,
) -> dict[str, Any]:
    """The named parameters of ``coverage_cells_sql``; ``box`` is in WGS84."""
    _, demand_params = demand_sql(need)
    # All but the moment, which the statement takes from the generation.
    weights = {k: v for k, v in weight_parameters(timezone.now()).items() if k != "now"}
    xmin, ymin, xmax, ymax = box
    return {
        "xmin": xmin,
        "ymin": ymin,
        "xmax": xmax,
        "ymax": ymax,
        "areas": sorted(area_ids),
        "area": area.pk if area is not None else None,
        "resolution": resolution,
        "srid": settings.ANALYSIS_SRID,
        "generation": generation,
        **weights,
        **demand_params,
        **coverage_params(need),
    }


@dataclass(frozen=True)
class CoverageGapCell:
    """One hexagon of uncovered demand: weighted demand and reports, uncovered and covered."""

    resolution: int
    i: int
    j: int
    uncovered: float
    uncovered_reports: int
    covered: float
    covered_reports: int
    hexagon: dict[str, Any]

    @property
    def demand(self) -> float:
        return self.uncovered + self.covered

    @property
    def demand_reports(self) -> int:
        return self.uncovered_reports + self.covered_reports


# The cells as GeoJSON hexagons in WGS84; with an in_bbox, those that meet it.
_GAPS_SQL = """
WITH cells AS MATERIALIZED ({cells})
SELECT i, j, uncovered, uncovered_reports, covered, covered_reports, ST_AsGeoJSON(shape, 7)
FROM (
    SELECT c.*, ST_Transform(
        ST_Hexagon(%(resolution)s / 2.0, c.i, c.j, ST_SetSRID(ST_MakePoint(0, 0), %(srid)s)),
        4326
    ) AS shape
    FROM cells c
) shaped
WHERE NOT %(in_bbox)s
   OR ST_Intersects(shape, ST_MakeEnvelope(%(xmin)s, %(ymin)s, %(xmax)s, %(ymax)s, 4326))
ORDER BY i, j
LIMIT %(limit)s
"""


def coverage_gap_cells(
    *, need: Need, filters: LayerFilters, area_ids: Collection[int], limit: int
) -> list[CoverageGapCell]:
    """The cells with uncovered demand for ``need`` under the filters (resolution, area,
    in_bbox), of the reports inside the areas, ordered by (i, j); at most ``limit``.

    Two queries: the box to search (the filter's, or else the areas' extent), and the
    cells with the live generation's start for the weights.
    """
    resolution = filters.resolution_or(default_resolution())
    box = filters.bbox
    if box is None:
        box = _extent([filters.area.pk] if filters.area is not None else area_ids)
        if box is None:
            return []
    params = coverage_cells_params(
        need,
        box=box,
        area_ids=area_ids,
        area=filters.area,
        resolution=resolution,
        generation=_live_generation_id(),
    )
    sql = _GAPS_SQL.format(cells=coverage_cells_sql(need))
    with connection.cursor() as cursor:
        cursor.execute(sql, {**params, "in_bbox": filters.bbox is not None, "limit": limit})
        rows = cursor.fetchall()
    return [
        CoverageGapCell(
            resolution=resolution,
            i=i,
            j=j,
            uncovered=uncovered,
            uncovered_reports=uncovered_reports,
            covered=covered,
            covered_reports=covered_reports,
            hexagon=json.loads(hexagon),
        )
        for i, j, uncovered, uncovered_reports, covered, covered_reports, hexagon in rows
    ]


def _extent(area_ids: Collection[int]) -> BBox | None:
    found = Area.objects.filter(pk__in=sorted(area_ids)).aggregate(extent=Extent("geom"))
    extent = found["extent"]
    return None if extent is None else tuple(extent)


def _live_generation_id() -> int | None:
    return (
        HotspotGeneration.objects.filter(status=HotspotGeneration.Status.LIVE)
        .values_list("pk", flat=True)
        .first()
    )
