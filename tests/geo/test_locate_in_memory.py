"""geo.areas.area_locator: the intake's in-memory point-in-area test, against PostGIS.

The intake locates every report in memory instead of asking PostgreSQL; it must give the
answer ST_Intersects gives, on the very edges too, and must not keep areas that changed.
"""

import itertools
import math
import random

import pytest
from django.contrib.gis.geos import GEOSGeometry, Polygon
from django.core.cache import cache
from django.db import connection

from geo.access import SCOPE_VERSION_KEY
from geo.areas import area_locator, area_upsert
from geo.models import Area
from tests.conftest import a_report
from tests.fixtures import points as places

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("west_mercia")]

TOWNS = [
    places.WORCESTER,
    places.SHREWSBURY,
    places.HEREFORD,
    places.TELFORD,
    places.KIDDERMINSTER,
    places.BIRMINGHAM,
    places.LONDON,
]


def postgis(points: list[tuple[float, float]]) -> list[tuple[bool, set[int]]]:
    """ST_Intersects for each point: in any force piece, and the policing areas holding it."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT t.i, coalesce(bool_or(p.kind = 'force'), false),
                   array_remove(array_agg(CASE WHEN p.kind = 'lpa' THEN p.area_id END), NULL)
            FROM unnest(%s::float8[], %s::float8[]) WITH ORDINALITY AS t(x, y, i)
            LEFT JOIN geo_areapart p
              ON p.kind IN ('force', 'lpa')
             AND ST_Intersects(p.geom, ST_SetSRID(ST_MakePoint(t.x, t.y), 4326))
            GROUP BY t.i ORDER BY t.i
            """,
            [[p[0] for p in points], [p[1] for p in points]],
        )
        return [(force, set(areas)) for _, force, areas in cursor.fetchall()]


def edge_points(rng: random.Random, segments: int) -> list[tuple[float, float]]:
    """For a sample of the pieces' segments: the vertex, its eight neighbours one double
    away, the midpoint (rounded off the line or onto it), a random point along it, and
    points on the horizontal through the vertex: where a winding count can go wrong."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT ST_AsBinary(geom) FROM geo_areapart WHERE kind IN ('force', 'lpa')")
        polygons = [GEOSGeometry(memoryview(wkb)) for (wkb,) in cursor.fetchall()]
    every = [
        pair
        for polygon in polygons
        if isinstance(polygon, Polygon)
        for ring in polygon
        for pair in itertools.pairwise(ring.coords)
    ]
    assert len(every) > 1000
    points = []
    for (x1, y1), (x2, y2) in rng.sample(every, min(segments, len(every))):
        points.append((x1, y1))
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                if dx or dy:
                    points.append(
                        (
                            math.nextafter(x1, x1 + dx) if dx else x1,
                            math.nextafter(y1, y1 + dy) if dy else y1,
                        )
                    )
        points.append(((x1 + x2) / 2, (y1 + y2) / 2))
        t = rng.random()
        points.append((x1 + t * (x2 - x1), y1 + t * (y2 - y1)))
        points.append((x1 + 1e-4, y1))
        points.append((x1 - 1e-4, y1))
    return points


def test_it_answers_as_postgis_on_the_edges_and_everywhere_else():
    rng = random.Random(5)
    points = edge_points(rng, segments=1000)
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    points += [
        (rng.uniform(min(xs) - 0.1, max(xs) + 0.1), rng.uniform(min(ys) - 0.1, max(ys) + 0.1))
        for _ in range(3000)
    ]
    points += TOWNS
    locator = area_locator(version="test")
    assert locator is not None

    located = [locator.locate(x, y) for x, y in points]

    on_edges = 0
    for point, location, (in_force, areas) in zip(points, located, postgis(points), strict=True):
        assert location.in_service_area == in_force, point
        # On a boundary between policing areas the point is in both: either is right.
        assert (location.area_id in areas) if areas else location.area_id is None, point
        on_edges += len(areas) > 1
    assert on_edges > 20  # the test did reach shared boundaries
    assert sum(location.in_service_area for location in located) > len(points) / 4


def test_it_names_the_policing_area_and_the_service_area():
    locator = area_locator(version="test")
    assert locator is not None

    worcester = locator.locate(*places.WORCESTER)
    birmingham = locator.locate(*places.BIRMINGHAM)

    assert worcester.in_service_area
    assert (worcester.area_code, worcester.area_name) == (
        "wm-south-worcestershire",
        "South Worcestershire",
    )
    assert worcester.area_id == Area.objects.get(code="wm-south-worcestershire").pk
    assert not birmingham.in_service_area
    assert locator.service_area_name == "West Mercia"


def test_it_reads_the_pieces_once_per_version(django_assert_num_queries):
    # 1. The pieces of the force and policing areas with their areas' codes and names.
    # 2. The force areas' names, for "outside the service area (West Mercia)".
    with django_assert_num_queries(2):
        first = area_locator(version="one")
    with django_assert_num_queries(0):
        again = area_locator(version="one")
    with django_assert_num_queries(2):
        other = area_locator(version="two")

    assert again is first
    assert other is not first
    assert area_locator(version=None) is None


def test_a_changed_area_moves_the_version_on_so_reports_see_it(reporter):
    body = a_report()
    assert reporter.post("/api/v1/reports", body, format="json").json()["area"]["code"] == (
        "wm-south-worcestershire"
    )
    version = cache.get(SCOPE_VERSION_KEY)

    # South Worcestershire shrinks to a square in the Malverns, away from Worcester.
    area_upsert(
        code="wm-south-worcestershire",
        name="South Worcestershire",
        kind=Area.Kind.LOCAL_POLICING_AREA,
        geom=GEOSGeometry(
            "SRID=4326;POLYGON((-2.4 52.0, -2.3 52.0, -2.3 52.1, -2.4 52.1, -2.4 52.0))"
        ),
    )
    response = reporter.post("/api/v1/reports", a_report(), format="json")

    assert cache.get(SCOPE_VERSION_KEY) != version
    assert response.status_code == 201
    assert response.json()["area"] is None  # still inside the force area, in no policing area


def test_areas_read_before_redis_lost_its_keys_are_read_again(reporter):
    assert reporter.post("/api/v1/reports", a_report(), format="json").json()["area"]["code"] == (
        "wm-south-worcestershire"
    )
    # Changed behind Django's back, and Redis emptied (a restart): no version was moved on,
    # and a version counted afresh could equal the old one; the new epoch tells them apart.
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE geo_areapart SET geom = ST_Translate(geom, 5, 0)
            WHERE area_id = (SELECT id FROM geo_area WHERE code = 'wm-south-worcestershire')
            """
        )
    cache.clear()

    response = reporter.post("/api/v1/reports", a_report(), format="json")

    assert response.status_code == 201
    assert response.json()["area"] is None


def test_the_version_moves_on_again_once_the_new_pieces_are_committed(
    django_capture_on_commit_callbacks,
):
    # A process that read the pieces between the area's save and the commit of its new
    # pieces read the old ones: the second move makes it read them again.
    cache.set(SCOPE_VERSION_KEY, 7, timeout=None)
    worcestershire = Area.objects.get(code="wm-south-worcestershire")

    with django_capture_on_commit_callbacks(execute=True):
        area_upsert(
            code=worcestershire.code,
            name=worcestershire.name,
            kind=worcestershire.kind,
            geom=worcestershire.geom,
        )
        while_writing = cache.get(SCOPE_VERSION_KEY)

    assert while_writing == 8
    assert cache.get(SCOPE_VERSION_KEY) == 9
