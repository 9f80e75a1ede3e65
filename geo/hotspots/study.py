"""The study area of a grid: the cells whose centres are inside the service area.

Found line by line: the service area is intersected with each horizontal line through a
row of centres (a few thousand lines even at 50 m), and every centre on a stretch inside
is in. The stretches only change when the boundaries do, so they are cached under a key
made from the force areas' last change.
"""

import math
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Max

from geo.hotspots.grid import SQRT3, Grid, Lattice
from geo.models import Area

_SEGMENTS_SQL = (Path(__file__).parent / "sql" / "study_segments.sql").read_text()
_CACHE_SECONDS = 7 * 24 * 3600


def service_area_key() -> str:
    """Changes whenever a force area is added, removed or redrawn."""
    state = Area.objects.filter(kind=Area.Kind.FORCE).aggregate(
        count=Count("id"), changed=Max("updated_at")
    )
    changed = state["changed"].timestamp() if state["changed"] else 0
    return f"{state['count']}:{changed:.6f}:{settings.ANALYSIS_SRID}"


def service_area_bbox() -> tuple[float, float, float, float] | None:
    """The service area's bounding box in the analysis SRID (None without areas)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM ("
            " SELECT ST_Extent(ST_Transform(geom, %s)) AS e FROM geo_areapart WHERE kind = %s"
            ") extent",
            [settings.ANALYSIS_SRID, Area.Kind.FORCE],
        )
        row = cursor.fetchone()
    if row is None or row[0] is None:
        return None
    return (float(row[0]), float(row[1]), float(row[2]), float(row[3]))


def study_segments(grid: Grid, bbox: tuple[float, float, float, float], key: str) -> np.ndarray:
    """(m, x0, x1) stretches of the centre lines inside the service area."""
    cache_key = f"hotspots:study:{grid.resolution}:{key}"
    segments = cache.get(cache_key)
    if segments is not None:
        return np.asarray(segments)
    xmin, ymin, xmax, ymax = bbox
    dy = SQRT3 * grid.size / 2.0
    with connection.cursor() as cursor:
        cursor.execute(
            _SEGMENTS_SQL,
            {
                "srid": settings.ANALYSIS_SRID,
                "dy": dy,
                "xmin": xmin - grid.resolution,
                "xmax": xmax + grid.resolution,
                "mmin": math.floor(ymin / dy),
                "mmax": math.ceil(ymax / dy),
            },
        )
        segments = np.array(cursor.fetchall(), dtype=np.float64).reshape(-1, 3)
    cache.set(cache_key, segments, _CACHE_SECONDS)
    return segments


def study_mask(lattice: Lattice, key: str, bbox: tuple[float, float, float, float]) -> np.ndarray:
    return lattice.mask_from_segments(study_segments(lattice.grid, bbox, key))
