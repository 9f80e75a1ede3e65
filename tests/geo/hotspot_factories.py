"""Reports written straight into the table, hundreds at once, for the hotspot tests.

Points are made in the analysis SRID, where the hexagon grid is, so that a test can put one
a millimetre from a hexagon's edge; the WGS84 location is the same point transformed, and
the local policing area the one the point falls in, as intake stores them.
"""

import math
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone
from pytest_django.fixtures import Settings as SettingsWrapper

from geo.hotspots.grid import SQRT3, grids
from geo.hotspots.study import service_area_bbox, service_area_key, study_segments
from geo.models import HotspotCell

XY = tuple[float, float]
LonLat = tuple[float, float]


@dataclass(frozen=True)
class Row:
    """One report to insert, at (x, y) in the analysis SRID."""

    x: float
    y: float
    reasons: tuple[str, ...] = ("poor_lighting",)
    feeling: str = "unsafe"
    severity: int | None = 2
    felt_at: datetime | None = None
    # Truncated to the hour on insert, as intake does; now when not given.
    received_at: datetime | None = None
    street: str = ""


_INSERT = """
INSERT INTO reports_report (
    id, location, location_projected, area_id, reasons, feeling, severity, felt_at,
    received_at, description, description_redacted, text_state, app_version, source, street,
    body_digest, receipt_hash
)
SELECT
    r.id, ST_Transform(r.point, 4326), r.point,
    (SELECT part.area_id FROM geo_areapart part
     WHERE part.kind = 'lpa' AND ST_Intersects(part.geom, ST_Transform(r.point, 4326))
     LIMIT 1),
    string_to_array(r.reasons, ','), r.feeling, r.severity, r.felt_at,
    date_trunc('hour', r.received_at), '', '', 'none', '', 'test', r.street, '', ''
FROM (
    SELECT t.id, ST_SetSRID(ST_MakePoint(t.x, t.y), %(srid)s) AS point, t.reasons, t.feeling,
           t.severity, t.felt_at, t.received_at, t.street
    FROM unnest(
        %(ids)s::uuid[], %(xs)s::float8[], %(ys)s::float8[], %(reasons)s::text[],
        %(feelings)s::text[], %(severities)s::int[], %(felt_at)s::timestamptz[],
        %(received_at)s::timestamptz[], %(streets)s::text[]
    ) AS t (id, x, y, reasons, feeling, severity, felt_at, received_at, street)
) r
"""


def insert_reports(rows: Sequence[Row]) -> list[uuid.UUID]:
    """Inserts the rows in one statement; returns their ids, in order."""
    ids = [uuid.uuid4() for _ in rows]
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT,
            {
                "srid": settings.ANALYSIS_SRID,
                "ids": [str(i) for i in ids],
                "xs": [row.x for row in rows],
                "ys": [row.y for row in rows],
                "reasons": [",".join(row.reasons) for row in rows],
                "feelings": [row.feeling for row in rows],
                "severities": [row.severity for row in rows],
                "felt_at": [row.felt_at for row in rows],
                "received_at": [row.received_at or now for row in rows],
                "streets": [row.street for row in rows],
            },
        )
        assert cursor.rowcount == len(rows)
    return ids


def projected(lonlat: LonLat) -> XY:
    """A WGS84 (longitude, latitude) in the analysis SRID."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_X(p), ST_Y(p) FROM ST_Transform(ST_SetSRID(ST_MakePoint(%s, %s), 4326), %s)"
            " AS p",
            [lonlat[0], lonlat[1], settings.ANALYSIS_SRID],
        )
        x, y = cursor.fetchone()
    return float(x), float(y)


def scattered(centre: XY, *, count: int, spread_m: float, seed: int = 0) -> list[XY]:
    """``count`` points spread evenly over a disc of radius ``spread_m`` around ``centre``."""
    rng = random.Random(seed)
    points = []
    for _ in range(count):
        distance = spread_m * math.sqrt(rng.random())
        angle = rng.uniform(0, 2 * math.pi)
        points.append(
            (centre[0] + distance * math.cos(angle), centre[1] + distance * math.sin(angle))
        )
    return points


def reports_around(
    lonlat: LonLat, *, count: int, spread_m: float, seed: int = 0, **fields: object
) -> list[uuid.UUID]:
    """``count`` reports within ``spread_m`` metres of a place, all alike but for the point."""
    points = scattered(projected(lonlat), count=count, spread_m=spread_m, seed=seed)
    return insert_reports([Row(x, y, **fields) for x, y in points])  # type: ignore[arg-type]


ORIGIN_SQL = "ST_SetSRID(ST_MakePoint(0, 0), %(srid)s)"


def cells_holding(point: XY, *, generation_id: int) -> dict[int, HotspotCell]:
    """Per resolution, the generation's cell that holds ``point``, by PostGIS's own hexagon.

    The oracle the binning is checked against: ``ST_Hexagon(resolution / 2, i, j)`` at the
    grid's origin, not the arithmetic in aggregate.sql. Fails if a resolution has two.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.resolution, c.id FROM geo_hotspotcell c"
            " WHERE c.generation_id = %(generation)s AND ST_Intersects("
            f"   ST_Hexagon(c.resolution / 2.0, c.i, c.j, {ORIGIN_SQL}),"
            "   ST_SetSRID(ST_MakePoint(%(x)s, %(y)s), %(srid)s))",
            {
                "generation": generation_id,
                "x": point[0],
                "y": point[1],
                "srid": settings.ANALYSIS_SRID,
            },
        )
        rows = cursor.fetchall()
    resolutions = [resolution for resolution, _ in rows]
    assert len(resolutions) == len(set(resolutions)), f"{point} is in two cells: {rows}"
    cells = HotspotCell.objects.in_bulk([cell_id for _, cell_id in rows])
    return {resolution: cells[cell_id] for resolution, cell_id in rows}


def common_centre(lonlat: LonLat) -> XY:
    """A point near ``lonlat`` that is a cell's centre on every grid at once.

    The centre of a cell of the coarsest grid in an even column is one on every grid whose
    resolution divides the coarsest one's (50, 200 and 1000 m do): reports within a few
    metres of it share a cell at every resolution.
    """
    coarsest = max(grids(), key=lambda grid: grid.resolution)
    assert all(coarsest.resolution % grid.resolution == 0 for grid in grids())
    x, y = projected(lonlat)
    i = 2 * round(x / (1.5 * coarsest.size) / 2)
    j = round(y / (SQRT3 * coarsest.size))
    return 1.5 * coarsest.size * i, SQRT3 * coarsest.size * j


def use_coarse_grids(settings: SettingsWrapper) -> None:
    """Drops the finest grid: most of a rebuild's time, and nothing a caller proves needs it."""
    settings.HOTSPOT_RESOLUTIONS = list(settings.HOTSPOT_RESOLUTIONS[1:])
    settings.HOTSPOT_DISTANCE_BANDS = list(settings.HOTSPOT_DISTANCE_BANDS[1:])
    assert settings.HOTSPOT_EMERGING_RESOLUTION in settings.HOTSPOT_RESOLUTIONS


# Each grid's study segments, computed once per session from the test boundaries.
_SEGMENTS: dict[int, np.ndarray] = {}


def prime_study_cache() -> None:
    """Puts each grid's study segments back in the cache that every test starts by emptying.

    Finding them costs seconds at 50 m and they depend only on the boundaries, which are the
    same in every test; production keeps them cached for a week. Under the key
    geo.hotspots.study uses: if that changes, rebuilds get slower, not wrong.
    """
    bbox = service_area_bbox()
    assert bbox is not None
    key = service_area_key()
    for grid in grids():
        if grid.resolution in _SEGMENTS:
            cache.set(f"hotspots:study:{grid.resolution}:{key}", _SEGMENTS[grid.resolution], None)
        else:
            _SEGMENTS[grid.resolution] = study_segments(grid, bbox, key)
