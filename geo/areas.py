"""Boundaries: writing areas, and locating a point in them."""

import json
from dataclasses import dataclass
from typing import Any

from django.contrib.gis.geos import GEOSGeometry, MultiPolygon, Polygon
from django.db import connection, transaction

from geo.models import Area

# Pieces of at most this many vertices keep each point-in-polygon test cheap.
SUBDIVIDE_MAX_VERTICES = 128


@dataclass(frozen=True)
class Location:
    """Where a point falls: inside the service area or not, and its local policing area."""

    in_service_area: bool
    area_id: int | None = None
    area_code: str | None = None
    area_name: str | None = None


def locate_point(*, longitude: float, latitude: float) -> Location:
    return locate_points([(longitude, latitude)])[0]


def as_multipolygon(geom: GEOSGeometry) -> MultiPolygon:
    """A valid MultiPolygon in WGS84 from any polygonal geometry."""
    if geom.srid and geom.srid != 4326:
        geom = geom.transform(4326, clone=True)
    if not geom.valid:
        geom = geom.make_valid()  # type: ignore[attr-defined]
    if isinstance(geom, Polygon):
        geom = MultiPolygon(geom, srid=4326)
    elif not isinstance(geom, MultiPolygon):
        polygons = [g for g in _flatten(geom) if isinstance(g, Polygon)]
        if not polygons:
            raise ValueError(f"{geom.geom_type} is not an area")
        geom = MultiPolygon(*polygons, srid=4326)
    geom.srid = 4326
    return geom


def _flatten(geom: GEOSGeometry) -> list[GEOSGeometry]:
    if geom.geom_type in ("MultiPolygon", "GeometryCollection"):
        return [part for child in geom for part in _flatten(child)]  # type: ignore[attr-defined]
    return [geom]


@transaction.atomic
def area_upsert(
    *, code: str, name: str, kind: str, geom: GEOSGeometry, parent: Area | None = None
) -> tuple[Area, bool]:
    """Create or update the area with this code, and rebuild its indexed pieces."""
    area, created = Area.objects.update_or_create(
        code=code,
        defaults={"name": name, "kind": kind, "geom": as_multipolygon(geom), "parent": parent},
    )
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM geo_areapart WHERE area_id = %s", [area.pk])
        cursor.execute(
            """
            INSERT INTO geo_areapart (area_id, kind, geom)
            SELECT a.id, a.kind, d.geom
            FROM geo_area a,
                 ST_Subdivide(a.geom, %s) AS s(geom),
                 ST_Dump(s.geom) AS d
            WHERE a.id = %s AND GeometryType(d.geom) = 'POLYGON'
            """,
            [SUBDIVIDE_MAX_VERTICES, area.pk],
        )
    return area, created


def service_area_outline(*, tolerance_degrees: float = 0.002) -> dict[str, Any] | None:
    """The union of the force areas: its bbox and a simplified outline, for the app."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e), outline, names
            FROM (
                SELECT ST_Extent(geom)::geometry AS e,
                       ST_AsGeoJSON(ST_SimplifyPreserveTopology(ST_Union(geom), %s), 5)
                           AS outline,
                       array_agg(name ORDER BY name) AS names
                FROM geo_area WHERE kind = 'force'
            ) s
            """,
            [tolerance_degrees],
        )
        row = cursor.fetchone()
    if row is None or row[4] is None:
        return None
    minx, miny, maxx, maxy, outline, names = row
    return {
        "name": " and ".join(names),
        "bbox": [round(minx, 5), round(miny, 5), round(maxx, 5), round(maxy, 5)],
        "polygon": json.loads(outline),
    }


def service_area_name() -> str:
    names = list(
        Area.objects.filter(kind=Area.Kind.FORCE).order_by("name").values_list("name", flat=True)
    )
    return " and ".join(names) or "the service area"


# One indexed query for any number of points: for each point, the GiST index on
# geo_areapart.geom finds the few small pieces whose boxes hold it, then an exact test.
_LOCATE_SQL = """
    SELECT t.i, p.kind, a.id, a.code, a.name
    FROM unnest(%s::float8[], %s::float8[]) WITH ORDINALITY AS t(lon, lat, i)
    JOIN geo_areapart p
      ON p.kind IN ('force', 'lpa')
     AND ST_Intersects(p.geom, ST_SetSRID(ST_MakePoint(t.lon, t.lat), 4326))
    JOIN geo_area a ON a.id = p.area_id
"""


def locate_points(points: list[tuple[float, float]]) -> list[Location]:
    """Where each (longitude, latitude) falls, in order, in one query."""
    if not points:
        return []
    with connection.cursor() as cursor:
        cursor.execute(_LOCATE_SQL, [[p[0] for p in points], [p[1] for p in points]])
        rows = cursor.fetchall()
    in_force: set[int] = set()
    lpa: dict[int, tuple[int, str, str]] = {}
    for index, kind, area_id, code, name in rows:
        if kind == Area.Kind.FORCE:
            in_force.add(index)
        else:
            lpa[index] = (area_id, code, name)
    return [
        Location(i in in_force, *lpa.get(i, (None, None, None))) for i in range(1, len(points) + 1)
    ]
