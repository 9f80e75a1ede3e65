"""Boundaries: writing areas, and locating a point in them."""

import itertools
import json
import time
from dataclasses import dataclass
from typing import Any

from django.contrib.gis.geos import GEOSGeometry, MultiPolygon, Polygon
from django.db import connection, transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from geo.access import scope_version_bump
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


# --- Locating points in memory ---------------------------------------------------------------
#
# The intake locates every report. In PostgreSQL that lookup costs about as much as the insert
# itself (ST_Intersects deserialises each candidate piece afresh for every point), so each web
# process keeps the pieces of the force and policing areas in memory and answers with the
# arithmetic PostGIS 3 uses for a point against a polygon (the point-in-polygon short cut of
# ST_Intersects: ``point_in_ring`` in postgis/lwgeom_functions_analytic.c). That is a winding
# number over the ring's segments, a point exactly on a segment counting as inside; the same
# doubles through the same operations in the same order give the same answer as PostgreSQL on
# the very edges, which tests/geo/test_locate_in_memory.py checks point by point.
#
# The pieces are read again when the areas' version differs from the one they were read
# under, and at the latest after LOCATOR_MAX_AGE_SECONDS, in case a change could not reach
# Redis. The version, read by the caller from Redis (reports.throttles, in the round trip it
# makes anyway), is geo.access.SCOPE_VERSION_KEY, moved on by every change to an area and
# once more when that change commits, after LOCATOR_EPOCH_KEY: a random epoch made afresh
# whenever Redis has lost it, so that a version counted again from 1 in a new or emptied
# Redis is never taken for an old one.

LOCATOR_MAX_AGE_SECONDS = 600.0
LOCATOR_EPOCH_KEY = "geo:locator-epoch"
# Horizontal bands per segment of a ring: a point is tested against the few segments that
# span its band's latitudes, not against all of them.
_BANDS_PER_SEGMENT = 2.0
# Cells of the grid that finds the pieces whose bounding boxes may hold a point.
_GRID_CELLS = 128

_Segment = tuple[float, float, float, float]


class _Bands:
    """Equal slices of [low, high]; ``of(value)`` is monotonic in value, so anything whose
    span holds a value is listed in the slice of that value."""

    __slots__ = ("last", "low", "step")

    def __init__(self, low: float, high: float, count: int) -> None:
        self.low = low
        self.step = (high - low) / count or 1.0
        self.last = count

    def of(self, value: float) -> int:
        return min(int((value - self.low) / self.step), self.last)


class _Ring:
    __slots__ = ("bands", "maxx", "maxy", "minx", "miny", "segments")

    def __init__(self, coords: tuple[tuple[float, float], ...]) -> None:
        self.minx = min(x for x, _ in coords)
        self.maxx = max(x for x, _ in coords)
        self.miny = min(y for _, y in coords)
        self.maxy = max(y for _, y in coords)
        kept: list[_Segment] = []
        for (x1, y1), (x2, y2) in itertools.pairwise(coords):
            # PostGIS ignores segments shorter than 1e-12, with this very expression.
            if (x2 - x1) * (x2 - x1) + (y2 - y1) * (y2 - y1) < 1e-12 * 1e-12:
                continue
            kept.append((x1, y1, x2, y2))
        self.bands = _Bands(self.miny, self.maxy, max(1, int(len(kept) * _BANDS_PER_SEGMENT)))
        slices: list[list[_Segment]] = [[] for _ in range(self.bands.last + 1)]
        for segment in kept:
            low, high = sorted((segment[1], segment[3]))
            for band in range(self.bands.of(low), self.bands.of(high) + 1):
                slices[band].append(segment)
        self.segments = [tuple(s) for s in slices]

    def position(self, x: float, y: float) -> int:
        """-1 outside, 0 on the ring, 1 inside, as PostGIS's ``point_in_ring``.

        Only segments whose latitudes span the point's can hold it or wind around it: the
        tests below are false for every other one.
        """
        if y < self.miny or y > self.maxy or x < self.minx or x > self.maxx:
            return -1
        winding = 0
        for x1, y1, x2, y2 in self.segments[self.bands.of(y)]:
            side = (x2 - x1) * (y - y1) - (x - x1) * (y2 - y1)
            if (
                side == 0.0
                and (x1 <= x <= x2 or x2 <= x <= x1)
                and (y1 <= y <= y2 or y2 <= y <= y1)
            ):
                return 0
            if side > 0.0:
                if y1 <= y < y2:
                    winding += 1
            elif side < 0.0 and y2 <= y < y1:
                winding -= 1
        return 1 if winding else -1


class _Piece:
    """One row of geo_areapart: a polygon (exterior ring, then its holes) of an area."""

    __slots__ = ("exterior", "force", "holes", "inside", "outside")

    def __init__(
        self, kind: str, area: tuple[int, str, str], rings: list[tuple[tuple[float, float], ...]]
    ) -> None:
        self.force = kind == Area.Kind.FORCE
        self.exterior = _Ring(rings[0])
        self.holes = [_Ring(ring) for ring in rings[1:]]
        # What a point in this policing area is, inside the service area or not.
        self.inside = Location(True, *area)
        self.outside = Location(False, *area)

    def holds(self, x: float, y: float) -> bool:
        """ST_Intersects(piece, point), as PostGIS's ``point_in_polygon``."""
        found = self.exterior.position(x, y)
        if found != 1:
            return found == 0
        for hole in self.holes:
            found = hole.position(x, y)
            if found == 1:
                return False
            if found == 0:
                return True
        return True


class AreaLocator:
    """The force and policing areas' pieces in memory: ``locate`` answers as locate_points."""

    def __init__(self, rows: list[tuple[str, int, str, str, bytes]], service_area: str) -> None:
        self.service_area_name = service_area
        pieces = [
            _Piece(kind, (area_id, code, name), _rings(wkb))
            for kind, area_id, code, name, wkb in rows
        ]
        self._cells: list[list[tuple[_Piece, ...]]] = []
        if not pieces:
            self._columns = self._rows = _Bands(0.0, 0.0, 1)
            return
        self._columns = _Bands(
            min(p.exterior.minx for p in pieces), max(p.exterior.maxx for p in pieces), _GRID_CELLS
        )
        self._rows = _Bands(
            min(p.exterior.miny for p in pieces), max(p.exterior.maxy for p in pieces), _GRID_CELLS
        )
        self._west, self._south = self._columns.low, self._rows.low
        self._east = max(p.exterior.maxx for p in pieces)
        self._north = max(p.exterior.maxy for p in pieces)
        cells: list[list[list[_Piece]]] = [
            [[] for _ in range(_GRID_CELLS + 1)] for _ in range(_GRID_CELLS + 1)
        ]
        for piece in pieces:  # in geo_areapart's id order: the first policing area wins
            ring = piece.exterior
            for column in range(self._columns.of(ring.minx), self._columns.of(ring.maxx) + 1):
                for row in range(self._rows.of(ring.miny), self._rows.of(ring.maxy) + 1):
                    cells[column][row].append(piece)
        self._cells = [[tuple(cell) for cell in column] for column in cells]

    def locate(self, longitude: float, latitude: float) -> Location:
        """Where the point falls. On a boundary between two policing areas the point is in
        both, as for ST_Intersects; the first piece (lowest id) decides."""
        if not self._cells or not (
            self._west <= longitude <= self._east and self._south <= latitude <= self._north
        ):
            return _NOWHERE
        in_service_area = False
        policing: _Piece | None = None
        for piece in self._cells[self._columns.of(longitude)][self._rows.of(latitude)]:
            if piece.force:
                in_service_area = in_service_area or piece.holds(longitude, latitude)
            elif policing is None and piece.holds(longitude, latitude):
                policing = piece
        if policing is not None:
            return policing.inside if in_service_area else policing.outside
        return _IN_SERVICE_AREA if in_service_area else _NOWHERE


_NOWHERE = Location(False)
_IN_SERVICE_AREA = Location(True)


def _rings(wkb: bytes) -> list[tuple[tuple[float, float], ...]]:
    """A piece's rings, exterior first, as the doubles PostgreSQL holds (WKB is exact)."""
    polygon = GEOSGeometry(memoryview(wkb))
    if not isinstance(polygon, Polygon):
        raise ValueError(f"geo_areapart holds a {polygon.geom_type}, not a polygon")
    return [tuple((x, y) for x, y in ring.coords) for ring in polygon]


_PIECES_SQL = """
    SELECT p.kind, a.id, a.code, a.name, ST_AsBinary(p.geom)
    FROM geo_areapart p
    JOIN geo_area a ON a.id = p.area_id
    WHERE p.kind IN ('force', 'lpa')
    ORDER BY p.id
"""


@dataclass(frozen=True)
class _Loaded:
    locator: AreaLocator
    version: str
    at: float


_loaded: _Loaded | None = None


def area_locator(*, version: str | None) -> AreaLocator | None:
    """The in-memory locator for the areas' current ``version`` (read from Redis by the
    caller); None without a version, and then callers use locate_points.

    Reads the pieces (one query) the first time, when the version has moved on, and at the
    latest every LOCATOR_MAX_AGE_SECONDS; costs nothing otherwise.
    """
    global _loaded
    if version is None:
        return None
    loaded = _loaded
    now = time.monotonic()
    if loaded is None or loaded.version != version or now - loaded.at > LOCATOR_MAX_AGE_SECONDS:
        with connection.cursor() as cursor:
            cursor.execute(_PIECES_SQL)
            rows = [(kind, i, code, name, bytes(wkb)) for kind, i, code, name, wkb in cursor]
        loaded = _Loaded(AreaLocator(rows, service_area_name()), version, now)
        _loaded = loaded
    return loaded.locator


@receiver(post_save, sender=Area)
@receiver(post_delete, sender=Area)
def _pieces_changed(**kwargs: Any) -> None:
    # geo.access moves the version on as an area is saved, before area_upsert rewrites its
    # pieces; moving it again once they are committed keeps a process that read the pieces in
    # between from keeping the old ones.
    transaction.on_commit(scope_version_bump)
