"""The coverage rule (geo.coverage): which reports are demand for an intervention, which of
them an existing working asset already covers, and what they weigh.

Real PostGIS: reports and assets at points of the analysis SRID, a few metres either side
of the radius. The fast forms of the test (the grid of geo.coverage, and the coverage-gap
cells built on it) are checked against the plain ST_DWithin test on random towns, with
points at the radius and a hair either side of the grid's edges, under each join method
PostgreSQL may choose.
"""

import functools
import itertools
import math
import random
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.gis.gdal import CoordTransform, SpatialReference
from django.contrib.gis.geos import GEOSGeometry, Point
from django.db import connection, transaction
from django.utils import timezone
from pytest_django.fixtures import Settings as SettingsWrapper

from geo.asset_layers import coverage_cells_params, coverage_cells_sql
from geo.coverage import (
    Need,
    coverage_radius,
    covered_sql,
    demand_mask,
    demand_reasons,
    demand_sql,
    reached_sql,
    uncovered_demand_sql,
)
from geo.hotspots.weights import WEIGHT_SQL
from geo.models import Area, Camera, Streetlight
from geo.priorities import priorities_candidates
from reports.reasons import REASON_CODES
from tests.fixtures.points import HEREFORD, WORCESTER
from tests.geo.asset_factories import camera_at, light_at
from tests.geo.hotspot_factories import XY, Row, insert_reports, projected, scattered

pytestmark = [pytest.mark.usefixtures("west_mercia"), pytest.mark.django_db]


def count_where(condition: tuple[str, dict]) -> int:
    sql, params = condition
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM reports_report r WHERE {sql}", params)
        return int(cursor.fetchone()[0])


def uncovered(need: Need) -> int:
    return count_where(uncovered_demand_sql(need))


def east_of(point: XY, metres: float) -> XY:
    return point[0] + metres, point[1]


@pytest.fixture
def worcester() -> XY:
    return projected(WORCESTER)


# --------------------------------------------------------------------------------------
# Demand
# --------------------------------------------------------------------------------------


def test_the_reasons_that_make_demand_are_those_mapped_to_the_intervention() -> None:
    assert demand_reasons(Need.LIGHTING) == ("poor_lighting", "isolated")
    assert demand_reasons(Need.CCTV) == (
        "no_cctv",
        "isolated",
        "followed",
        "harassment_individual",
        "harassment_group",
    )
    assert demand_mask(Need.LIGHTING) == (1 << REASON_CODES.index("poor_lighting")) | (
        1 << REASON_CODES.index("isolated")
    )


def test_only_unsafe_reports_with_a_mapped_reason_are_demand(worcester: XY) -> None:
    insert_reports(
        [
            Row(*worcester, reasons=("poor_lighting",)),
            Row(*worcester, reasons=("isolated", "run_down")),
            Row(*worcester, reasons=("no_cctv",)),
            Row(*worcester, reasons=("run_down", "drugs_alcohol")),
            # A place that feels safe is a contrast, never demand, whatever it mentions.
            Row(*worcester, reasons=("poor_lighting",), feeling="safe"),
            Row(*worcester, reasons=(), feeling="safe"),
        ]
    )

    assert count_where(demand_sql(Need.LIGHTING)) == 2
    assert count_where(demand_sql(Need.CCTV)) == 2  # isolated and no_cctv
    assert uncovered(Need.LIGHTING) == 2


# --------------------------------------------------------------------------------------
# Lighting
# --------------------------------------------------------------------------------------


def test_a_working_light_within_the_radius_covers_a_report(worcester: XY) -> None:
    insert_reports([Row(*worcester, reasons=("poor_lighting",))])
    assert uncovered(Need.LIGHTING) == 1

    light_at(xy=east_of(worcester, 24.9))

    assert uncovered(Need.LIGHTING) == 0


def test_a_light_exactly_at_the_radius_covers_and_one_just_beyond_does_not(
    worcester: XY,
) -> None:
    insert_reports([Row(*worcester, reasons=("poor_lighting",))])
    light_at(xy=east_of(worcester, 25.001))
    assert uncovered(Need.LIGHTING) == 1

    light_at(xy=(worcester[0], worcester[1] + 25.0))

    assert uncovered(Need.LIGHTING) == 0


def test_a_light_30_m_away_does_not_cover(worcester: XY) -> None:
    insert_reports([Row(*worcester, reasons=("isolated",))])
    light_at(xy=east_of(worcester, 30))

    assert uncovered(Need.LIGHTING) == 1


def test_a_faulty_light_does_not_cover(worcester: XY) -> None:
    insert_reports([Row(*worcester, reasons=("poor_lighting",))])
    light = light_at(xy=east_of(worcester, 5), working=False)
    assert uncovered(Need.LIGHTING) == 1

    light.working = True
    light.save(update_fields=["working"])

    assert uncovered(Need.LIGHTING) == 0


def test_the_light_radius_is_a_setting(worcester: XY, settings: SettingsWrapper) -> None:
    insert_reports([Row(*worcester, reasons=("poor_lighting",))])
    light_at(xy=east_of(worcester, 30))

    settings.LIGHT_RADIUS_M = 35

    assert coverage_radius(Need.LIGHTING) == 35
    assert uncovered(Need.LIGHTING) == 0


def test_lights_do_not_cover_camera_demand_nor_cameras_lighting_demand(worcester: XY) -> None:
    insert_reports([Row(*worcester, reasons=("poor_lighting", "no_cctv"))])
    light_at(xy=east_of(worcester, 1))
    assert (uncovered(Need.LIGHTING), uncovered(Need.CCTV)) == (0, 1)

    camera_at(xy=east_of(worcester, 1))

    assert (uncovered(Need.LIGHTING), uncovered(Need.CCTV)) == (0, 0)


# --------------------------------------------------------------------------------------
# Cameras
# --------------------------------------------------------------------------------------


def test_a_working_public_space_camera_within_50_m_covers(worcester: XY) -> None:
    insert_reports([Row(*worcester, reasons=("followed",))])
    camera_at(xy=east_of(worcester, 55))
    assert uncovered(Need.CCTV) == 1

    camera_at(xy=east_of(worcester, 49))

    assert uncovered(Need.CCTV) == 0


def test_traffic_private_and_broken_cameras_do_not_cover(worcester: XY) -> None:
    insert_reports([Row(*worcester, reasons=("harassment_group",))])
    camera_at(xy=east_of(worcester, 10), kind="traffic")
    camera_at(xy=east_of(worcester, 10), kind="private")
    camera_at(xy=east_of(worcester, 10), kind="public_space", working=False)

    assert uncovered(Need.CCTV) == 1


# --------------------------------------------------------------------------------------
# Weights, as the priorities read them
# --------------------------------------------------------------------------------------


def test_demand_is_weighted_by_severity_and_halved_every_half_life(
    worcester: XY, settings: SettingsWrapper
) -> None:
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    half_life = timedelta(days=settings.HOTSPOT_HALF_LIFE_DAYS)
    insert_reports(
        [
            Row(*worcester, severity=1, received_at=now),
            Row(*worcester, severity=None, received_at=now),
            Row(*worcester, severity=3, received_at=now),
            Row(*worcester, severity=3, received_at=now - half_life),
            # When it was felt counts, not when it was sent.
            Row(*worcester, severity=2, felt_at=now - 2 * half_life, received_at=now),
        ]
    )
    scope = list(Area.objects.values_list("pk", flat=True))

    candidates = priorities_candidates(need=Need.LIGHTING, radius=25, area_ids=scope, now=now)

    weights = sorted(candidates.weights.tolist())
    assert weights == pytest.approx([0.5, 1.0, 1.5, 2.0, 3.0])
    assert candidates.demand_total == pytest.approx(8.0)


def test_covered_reports_and_reports_outside_the_scope_weigh_nothing(worcester: XY) -> None:
    hereford = projected(HEREFORD)
    insert_reports([Row(*worcester), Row(*east_of(worcester, 200)), Row(*hereford), Row(*hereford)])
    light_at(xy=worcester)
    south_worcestershire = Area.objects.get(code="wm-south-worcestershire")

    candidates = priorities_candidates(
        need=Need.LIGHTING, radius=25, area_ids=[south_worcestershire.pk]
    )

    assert candidates.demand_reports == 1
    assert settings.ANALYSIS_SRID == 27700  # the metres above are metres


# --------------------------------------------------------------------------------------
# The fast forms: exactly the plain ST_DWithin test, whichever plan PostgreSQL picks
# --------------------------------------------------------------------------------------

# Each join method on its own: the grid's hash join, its merge join, and the nested loop
# that probes the assets' GiST index report by report.
JOIN_METHODS = {
    "hash": "SET LOCAL enable_nestloop = off; SET LOCAL enable_mergejoin = off",
    "merge": "SET LOCAL enable_nestloop = off; SET LOCAL enable_hashjoin = off",
    "nested loop": "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off",
}
# Every working asset of each kind, tested the plain way: the rule as the issue states it.
PLAIN_COVERED = {
    Need.LIGHTING: "EXISTS (SELECT 1 FROM geo_streetlight a WHERE a.working"
    " AND ST_DWithin(a.location_projected, {point}, %(cover_radius)s))",
    Need.CCTV: "EXISTS (SELECT 1 FROM geo_camera a WHERE a.working AND a.kind = 'public_space'"
    " AND ST_DWithin(a.location_projected, {point}, %(cover_radius)s))",
}
# A box round every report of the random town, as a tile's search box would be.
TOWN_BOX = "ST_Expand(ST_SetSRID(ST_MakePoint(%(cx)s, %(cy)s), %(srid)s), 700)"


def like(template: uuid.UUID, points: list[XY], reasons: list[tuple[str, ...]]) -> None:
    """Reports like ``template`` (its area among the rest) at other points, for other
    reasons: one statement, where looking up each one's area would take seconds."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO reports_report (
                id, location, location_projected, area_id, reasons, feeling, severity,
                felt_at, received_at, description, description_redacted, text_state,
                app_version, source, street, body_digest, receipt_hash
            )
            SELECT
                gen_random_uuid(), ST_Transform(p.point, 4326), p.point, t.area_id,
                string_to_array(p.reasons, ','), t.feeling, t.severity, t.felt_at,
                t.received_at, '', '', 'none', '', 'test', '', '', ''
            FROM reports_report t, (
                SELECT ST_SetSRID(ST_MakePoint(x, y), %(srid)s) AS point, reasons
                FROM unnest(%(xs)s::float8[], %(ys)s::float8[], %(reasons)s::text[])
                    AS u (x, y, reasons)
            ) p
            WHERE t.id = %(template)s
            """,
            {
                "srid": settings.ANALYSIS_SRID,
                "xs": [x for x, _ in points],
                "ys": [y for _, y in points],
                "reasons": [",".join(r) for r in reasons],
                "template": str(template),
            },
        )


@functools.cache
def to_wgs84() -> CoordTransform:
    # Made once: making one for every point takes most of a test's time.
    return CoordTransform(SpatialReference(settings.ANALYSIS_SRID), SpatialReference(4326))


def placed(xy: XY) -> dict[str, GEOSGeometry]:
    """An asset's two points for a point in the analysis SRID."""
    projected_point = Point(*xy, srid=settings.ANALYSIS_SRID)
    return {
        "location": projected_point.transform(to_wgs84(), clone=True),
        "location_projected": projected_point,
    }


def random_town(worcester: XY, *, seed: int) -> dict[str, float]:
    """Reports, lights and cameras thrown over 1.2 km of Worcester, dense enough that many
    reports have an asset near the radius; and, at the corners of each grid's cells (side
    twice the radius and 2 mm), reports a hair either side of the corner with assets about
    the radius away across the cells' edges, where a cell taken one way or the other, or a
    reach taken a little short, would show. Returns the parameters of ``TOWN_BOX``."""
    rng = random.Random(seed)
    reasons = [("poor_lighting",), ("no_cctv",), ("isolated",), ("followed", "run_down")]
    points = scattered(worcester, count=500, spread_m=600, seed=seed)
    assets: dict[Need, list[XY]] = {need: [] for need in Need}
    for need in Need:
        radius = coverage_radius(need)
        side = 2.0 * radius + 0.002
        column, row = math.floor(worcester[0] / side), math.floor(worcester[1] / side)
        for k, m in itertools.product(range(-3, 4), repeat=2):
            corner = (side * (column + k), side * (row + m))
            points += [
                (corner[0] + dx, corner[1] + dy)
                for dx, dy in itertools.product([-0.2, -1e-7, 0.0, 1e-7, 0.2], repeat=2)
            ]
            # One asset, along one axis from the corner: within, at or beyond the radius.
            along = rng.choice([-1, 1]) * (radius + rng.choice([-0.3, -0.1, 0.0, 0.1]))
            assets[need].append(
                (corner[0] + along, corner[1])
                if rng.random() < 0.5
                else (corner[0], corner[1] + along)
            )
        # And at the radius of random reports, in random directions.
        for x, y in rng.sample(points, 60):
            angle = rng.uniform(0, 2 * math.pi)
            assets[need].append((x + radius * math.cos(angle), y + radius * math.sin(angle)))
    assets[Need.LIGHTING] += scattered(worcester, count=150, spread_m=650, seed=seed + 1)
    like(insert_reports([Row(*worcester)])[0], points, [rng.choice(reasons) for _ in points])

    # bulk_create: no signals, so nothing but the tables changes. A seventh of the lights
    # are faulty; a tenth of the cameras broken, a third traffic cameras.
    Streetlight.objects.bulk_create(
        Streetlight(external_id=f"l{n}", working=n % 7 > 0, **placed(xy))
        for n, xy in enumerate(assets[Need.LIGHTING])
    )
    Camera.objects.bulk_create(
        Camera(
            external_id=f"c{n}",
            working=n % 10 > 0,
            kind="traffic" if n % 3 == 0 else "public_space",
            **placed(xy),
        )
        for n, xy in enumerate(assets[Need.CCTV])
    )
    return {"cx": worcester[0], "cy": worcester[1], "srid": settings.ANALYSIS_SRID}


def report_ids(condition: str, params: dict, *, method: str) -> set[str]:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(JOIN_METHODS[method])
        cursor.execute(f"SELECT r.id::text FROM reports_report r WHERE {condition}", params)
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.parametrize("method", list(JOIN_METHODS))
@pytest.mark.parametrize("need", list(Need))
def test_the_grid_covers_exactly_the_reports_st_dwithin_covers(
    need: Need, method: str, worcester: XY
) -> None:
    box = random_town(worcester, seed=7)
    plain_sql = PLAIN_COVERED[need].format(point="r.location_projected")
    params = {**box, "cover_radius": coverage_radius(need)}
    everyone = report_ids("true", params, method=method)
    plain = report_ids(plain_sql, params, method=method)
    assert 0 < len(plain) < len(everyone)  # the test can fail either way

    covered, _ = covered_sql(need)
    near, _ = covered_sql(need, near=TOWN_BOX)
    reached, _ = reached_sql(need, point="r.location_projected", near=TOWN_BOX)

    assert report_ids(covered, params, method=method) == plain
    assert report_ids(f"NOT {covered}", params, method=method) == everyone - plain
    assert report_ids(near, params, method=method) == plain
    assert report_ids(f"NOT {near}", params, method=method) == everyone - plain
    # Every covered report is in a cell that an asset reaches into.
    assert plain <= report_ids(reached, params, method=method)


@pytest.mark.parametrize("method", list(JOIN_METHODS))
@pytest.mark.parametrize("need", list(Need))
def test_uncovered_demand_is_demand_that_st_dwithin_finds_no_asset_for(
    need: Need, method: str, worcester: XY
) -> None:
    random_town(worcester, seed=11)
    demand, params = demand_sql(need)
    plain = PLAIN_COVERED[need].format(point="r.location_projected")
    params = {**params, "cover_radius": coverage_radius(need)}

    expected = report_ids(f"{demand} AND NOT {plain}", params, method=method)

    assert report_ids(uncovered_demand_sql(need)[0], params, method=method) == expected
    assert len(expected) > 0


@pytest.mark.parametrize("method", list(JOIN_METHODS))
@pytest.mark.parametrize("need", list(Need))
def test_the_coverage_gap_cells_are_those_of_the_plain_test(
    need: Need, method: str, worcester: XY, settings: SettingsWrapper
) -> None:
    settings.LIGHT_RADIUS_M = 17  # another grid than the default's
    random_town(worcester, seed=3)
    lon, lat = WORCESTER
    box = (lon - 0.012, lat - 0.008, lon + 0.012, lat + 0.008)
    params = coverage_cells_params(
        need,
        box=box,
        area_ids=list(Area.objects.values_list("pk", flat=True)),
        area=None,
        resolution=50,
        generation=None,
    )
    demand, _ = demand_sql(need)
    weight = WEIGHT_SQL.replace("%(now)s", "(SELECT moment FROM moment)")
    # The statement itself, with the plain test in place of the grid's.
    plain = (
        (Path(settings.BASE_DIR) / "geo" / "sql" / "tiles" / "coverage_cells.sql")
        .read_text()
        .format(
            demand=demand,
            weight=weight,
            reached="true",
            covered=PLAIN_COVERED[need].format(point="d.location"),
        )
    )

    def cells(sql: str) -> list[tuple]:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(JOIN_METHODS[method])
            cursor.execute(f"SELECT * FROM ({sql}) c ORDER BY i, j", params)
            return cursor.fetchall()

    expected = cells(plain)
    found = cells(coverage_cells_sql(need))

    assert [(i, j, n, m) for i, j, _, n, _, m in found] == [
        (i, j, n, m) for i, j, _, n, _, m in expected
    ]
    assert [(u, c) for _, _, u, _, c, _ in found] == pytest.approx(
        [(u, c) for _, _, u, _, c, _ in expected]
    )
    assert sum(covered for *_, covered in found) > 0
