"""hotspots_rebuild: cells of every grid, Gi*, places, the generation swap and its triggers.

Rebuilds run on committed data (``transaction=True``), as in production: the rebuild then
aggregates in two connections and finds places in a third.
"""

import json
import math
import os
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any, cast

import numpy as np
import pytest
import redis
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections
from django.utils import timezone
from pytest_django.fixtures import Settings as SettingsWrapper
from rest_framework.test import APIClient

from geo.hotspots import rebuild as rebuild_module
from geo.hotspots import schedule
from geo.hotspots.grid import grids
from geo.hotspots.rebuild import hotspots_rebuild
from geo.hotspots.schedule import QUEUED_KEY, forget_queued_locally, rebuild_lock
from geo.models import Area, HotspotCell, HotspotGeneration, Place
from geo.selectors import hotspot_cells
from reports.models import Report
from reports.reasons import REASON_CODES
from tests.conftest import a_report
from tests.fixtures.points import HEREFORD, KIDDERMINSTER, SHREWSBURY, TELFORD, WORCESTER
from tests.geo.hotspot_factories import (
    ORIGIN_SQL,
    XY,
    Row,
    cells_holding,
    common_centre,
    insert_reports,
    prime_study_cache,
    projected,
    reports_around,
    scattered,
    use_coarse_grids,
)

pytestmark = pytest.mark.usefixtures("west_mercia")
# The rebuild's own connections must see the reports, so these tests commit them.
committed = pytest.mark.django_db(transaction=True)

LIVE = HotspotGeneration.Status.LIVE
RETIRED = HotspotGeneration.Status.RETIRED
DAY, EVENING, NIGHT, UNKNOWN = range(4)


@pytest.fixture(autouse=True)
def _study_cached(west_mercia: None) -> None:
    prime_study_cache()


@pytest.fixture(autouse=True)
def _unthrottled(settings: SettingsWrapper) -> None:
    # Not a test of the throttle, whose counters live in a Redis that other test runs share.
    settings.REPORT_THROTTLE_RATE = "10000/min"


@pytest.fixture
def coarse_grids(settings: SettingsWrapper) -> None:
    use_coarse_grids(settings)


@pytest.fixture
def broker() -> Iterator[redis.Redis]:
    """The tests' Redis as the Celery broker sees it; the default queue emptied afterwards."""
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    yield client
    client.delete("celery")
    client.close()


def live() -> HotspotGeneration:
    return HotspotGeneration.objects.get(status=LIVE)


def resolutions() -> list[int]:
    return [grid.resolution for grid in grids()]


# --------------------------------------------------------------------------------------
# Binning and per-cell counts
# --------------------------------------------------------------------------------------


def hexagon_corners(resolution: int, i: int, j: int) -> list[XY]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_X(d.geom), ST_Y(d.geom)"
            f" FROM ST_DumpPoints(ST_Hexagon(%(size)s, %(i)s, %(j)s, {ORIGIN_SQL})) d"
            " ORDER BY d.path",
            {"size": resolution / 2, "i": i, "j": j, "srid": settings.ANALYSIS_SRID},
        )
        ring = cursor.fetchall()
    return [(float(x), float(y)) for x, y in ring[:-1]]  # the ring repeats its first corner


def around_the_edges(resolution: int, i: int, j: int, *, distance: float = 0.001) -> list[XY]:
    """Points a millimetre from each corner and edge midpoint of cell (i, j), all round.

    Eight directions at 22.5 + 45k degrees: edges run at multiples of 60 degrees, so no
    point is on one (each is at least 0.13 mm off), and round a corner they fall in all
    three cells that meet there.
    """
    corners = hexagon_corners(resolution, i, j)
    midpoints = [
        ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
        for a, b in zip(corners, corners[1:] + corners[:1], strict=True)
    ]
    angles = [math.radians(22.5 + 45 * k) for k in range(8)]
    return [
        (x + distance * math.cos(angle), y + distance * math.sin(angle))
        for x, y in corners + midpoints
        for angle in angles
    ]


@committed
def test_every_report_lands_in_the_hexagon_postgis_draws_for_its_cell_at_every_resolution() -> None:
    x, y = projected(WORCESTER)
    rings: dict[int, tuple[int, int, list[uuid.UUID]]] = {}
    for index, resolution in enumerate(resolutions()):
        size = resolution / 2
        i = round(x / (1.5 * size))
        i += (i + index) % 2  # odd and even columns take turns as the ring's centre
        j = round(y / (math.sqrt(3) * size) - (i % 2) / 2)
        ring = around_the_edges(resolution, i, j)
        rings[resolution] = (i, j, insert_reports([Row(px, py) for px, py in ring]))

    generation = hotspots_rebuild()

    with connection.cursor() as cursor:
        # Each report, at each resolution: the stored cells whose hexagon holds it.
        cursor.execute(
            "SELECT r.id, grid.resolution, array_agg(ARRAY[c.i, c.j]) FILTER (WHERE c.id > 0)"
            " FROM reports_report r"
            " CROSS JOIN unnest(%(resolutions)s::int[]) AS grid (resolution)"
            " LEFT JOIN geo_hotspotcell c ON c.generation_id = %(generation)s"
            "   AND c.resolution = grid.resolution AND c.reports > 0 AND ST_Intersects("
            f"    ST_Hexagon(c.resolution / 2.0, c.i, c.j, {ORIGIN_SQL}), r.location_projected)"
            " GROUP BY r.id, grid.resolution",
            {
                "resolutions": resolutions(),
                "generation": generation.pk,
                "srid": settings.ANALYSIS_SRID,
            },
        )
        holding = {(report, resolution): cells for report, resolution, cells in cursor}
        # Each stored cell: its count, and the reports its hexagon holds.
        cursor.execute(
            "SELECT c.resolution, c.i, c.j, c.reports, ("
            "   SELECT count(*) FROM reports_report r WHERE ST_Intersects("
            f"    ST_Hexagon(c.resolution / 2.0, c.i, c.j, {ORIGIN_SQL}), r.location_projected))"
            " FROM geo_hotspotcell c WHERE c.generation_id = %(generation)s",
            {"generation": generation.pk, "srid": settings.ANALYSIS_SRID},
        )
        stored = cursor.fetchall()

    report_count = sum(len(ids) for _, _, ids in rings.values())
    assert generation.report_count == report_count
    assert len(holding) == report_count * len(resolutions())
    assert [key for key, cells in holding.items() if cells is None or len(cells) != 1] == []
    assert [row for row in stored if row[3] != row[4]] == []
    for resolution, (i, j, ids) in rings.items():
        ring_cells = {tuple(holding[report, resolution][0]) for report in ids}
        # The ring's cell and its six neighbours: round a corner the points reach all three.
        size = resolution / 2
        centre = (1.5 * size * i, math.sqrt(3) * size * (j + (i % 2) / 2))
        distances = sorted(
            round(
                math.dist(centre, (1.5 * size * ci, math.sqrt(3) * size * (cj + (ci % 2) / 2))), 6
            )
            for ci, cj in ring_cells
        )
        assert distances == [0.0] + [round(math.sqrt(3) * size, 6)] * 6, resolution


@pytest.mark.django_db
def test_a_rebuild_inside_a_transaction_writes_every_resolution(coarse_grids: None) -> None:
    reports_around(WORCESTER, count=5, spread_m=10)

    generation = hotspots_rebuild()

    assert generation.status == LIVE
    assert set(
        HotspotCell.objects.filter(generation=generation).values_list("resolution", flat=True)
    ) == set(resolutions())


SUMMER = datetime(2026, 7, 15, tzinfo=UTC)  # British Summer Time: local is UTC + 1
WINTER = datetime(2026, 1, 15, tzinfo=UTC)  # Greenwich Mean Time: local is UTC
# (felt_at, the band of its local time) either side of each band's edges.
FELT = [
    (SUMMER + timedelta(hours=5, minutes=59), NIGHT),  # 06:59 BST
    (SUMMER + timedelta(hours=6), DAY),  # 07:00 BST
    (SUMMER + timedelta(hours=17, minutes=59), DAY),  # 18:59 BST
    (SUMMER + timedelta(hours=18), EVENING),  # 19:00 BST
    (SUMMER + timedelta(hours=21, minutes=59), EVENING),  # 22:59 BST
    (SUMMER + timedelta(hours=22), NIGHT),  # 23:00 BST
    (SUMMER + timedelta(hours=23, minutes=30), NIGHT),  # 00:30 BST the next day
    (WINTER + timedelta(hours=6, minutes=59), NIGHT),  # 06:59 GMT
    (WINTER + timedelta(hours=7), DAY),  # 07:00 GMT
    (WINTER + timedelta(hours=18, minutes=59), DAY),  # 18:59 GMT
    (WINTER + timedelta(hours=19), EVENING),  # 19:00 GMT
    (WINTER + timedelta(hours=22, minutes=59), EVENING),  # 22:59 GMT
    (WINTER + timedelta(hours=23), NIGHT),  # 23:00 GMT
    (None, UNKNOWN),
    (None, UNKNOWN),
]


def weight(row: Row, *, now: datetime) -> float:
    """A report's weight as a rebuild at ``now`` scores it: by severity, halving with age."""
    when = row.felt_at or row.received_at
    assert when is not None
    age = max((now - when).total_seconds(), 0.0)
    half_life = settings.HOTSPOT_HALF_LIFE_DAYS * 86400
    return settings.HOTSPOT_SEVERITY_WEIGHTS[(row.severity or 2) - 1] * 0.5 ** (age / half_life)


@committed
def test_a_cell_counts_its_reports_by_feeling_reason_and_band_and_scores_the_unsafe_ones() -> None:
    centre = common_centre(WORCESTER)
    points = scattered(centre, count=len(FELT) + 3, spread_m=3)
    received = [datetime(2026, 10, 1, 10, tzinfo=UTC), datetime(2026, 11, 20, 8, tzinfo=UTC)]
    severities = [1, 2, 3, None]
    unsafe = [
        Row(
            *points[k],
            reasons=tuple(sorted({REASON_CODES[k % 10], REASON_CODES[(3 * k + 1) % 10]})),
            severity=severities[k % 4],
            felt_at=felt_at,
            received_at=received[k % 2],
        )
        for k, (felt_at, _) in enumerate(FELT)
    ]
    # Safe reports, one even with a reason, at night: in no reason, band or score.
    safe = [
        Row(*point, reasons=reasons, feeling="safe", severity=3, felt_at=WINTER)
        for point, reasons in zip(points[len(FELT) :], [(), ("other",), ()], strict=True)
    ]
    insert_reports(unsafe + safe)

    generation = hotspots_rebuild()

    expected_score = sum(weight(row, now=generation.started_at) for row in unsafe)
    reasons = Counter(code for row in unsafe for code in row.reasons)
    bands = Counter(band for _, band in FELT)
    cells = cells_holding(centre, generation_id=generation.pk)
    assert sorted(cells) == resolutions()
    for resolution, cell in cells.items():
        assert (cell.unsafe, cell.safe, cell.reports) == (len(unsafe), 3, len(unsafe) + 3)
        assert cell.reason_counts == [reasons[code] for code in REASON_CODES], resolution
        assert cell.band_counts == [4, 4, 5, 2] == [bands[band] for band in range(4)]
        assert cell.score == pytest.approx(expected_score, rel=1e-6)
        assert cell.area == Area.objects.get(code="wm-south-worcestershire")


@committed
def test_a_dense_cluster_is_a_hot_spot_and_a_lone_report_far_away_is_not(
    coarse_grids: None,
) -> None:
    centre = common_centre(WORCESTER)
    insert_reports([Row(x, y) for x, y in scattered(centre, count=200, spread_m=30)])
    lone = projected(SHREWSBURY)
    insert_reports([Row(*lone)])

    generation = hotspots_rebuild()

    cluster = cells_holding(centre, generation_id=generation.pk)[200]
    far = cells_holding(lone, generation_id=generation.pk)[200]
    assert cluster.reports == 200
    assert cluster.gi_class == HotspotCell.Class.HOT_99
    assert cluster.gi_z > 3 and cluster.gi_p < 0.01
    assert far.reports == 1
    assert far.gi_class == HotspotCell.Class.NOT_SIGNIFICANT
    assert far.gi_z < cluster.gi_z
    # Hot cells are only those with the cluster within their band (400 m between centres).
    hot = HotspotCell.objects.filter(generation=generation, resolution=200, gi_class__gt=0)
    assert hot.count() > 1
    for cell in hot:
        cx = 1.5 * 100 * cell.i
        cy = math.sqrt(3) * 100 * (cell.j + (cell.i % 2) / 2)
        assert math.dist((cx, cy), centre) <= 400 + 1e-6


# --------------------------------------------------------------------------------------
# Generations
# --------------------------------------------------------------------------------------


@committed
def test_each_rebuild_is_recorded_and_only_the_live_and_the_previous_generation_are_kept(
    coarse_grids: None,
) -> None:
    reports_around(WORCESTER, count=20, spread_m=15)
    reports_around(HEREFORD, count=3, spread_m=500, seed=1)
    before = timezone.now()

    first = hotspots_rebuild()

    first.refresh_from_db()
    assert first.status == LIVE
    assert first.started_at >= before
    assert first.built_at is not None and first.built_at >= first.started_at
    assert first.duration_seconds is not None
    assert first.duration_seconds == pytest.approx(
        (first.built_at - first.started_at).total_seconds(), abs=0.5
    )
    assert first.report_count == 23
    assert first.cell_count == HotspotCell.objects.filter(generation=first).count() > 0
    assert first.place_count == Place.objects.filter(generation=first).count() == 1
    assert first.parameters["resolutions"] == resolutions()

    second = hotspots_rebuild()

    assert list(HotspotGeneration.objects.filter(status=LIVE)) == [second]
    first.refresh_from_db()
    assert first.status == RETIRED
    assert HotspotCell.objects.filter(generation=first).count() == first.cell_count

    third = hotspots_rebuild()

    assert dict(HotspotGeneration.objects.values_list("pk", "status")) == {
        second.pk: RETIRED,
        third.pk: LIVE,
    }
    assert not HotspotCell.objects.filter(generation_id=first.pk).exists()
    assert not Place.objects.filter(generation_id=first.pk).exists()


@committed
def test_an_erased_report_counts_until_the_next_rebuild_and_then_at_no_resolution(
    reporter: APIClient, broker: redis.Redis
) -> None:
    bodies = [a_report(), a_report()]
    receipts = []
    for body in bodies:
        response = reporter.post("/api/v1/reports", body, format="json")
        assert response.status_code == 201
        receipts.append(response.json()["receipt"])
    where = projected(WORCESTER)
    before = hotspots_rebuild()

    erased = reporter.delete(f"/api/v1/reports/{bodies[0]['id']}", HTTP_X_RECEIPT=receipts[0])

    assert erased.status_code == 204
    assert live() == before
    assert {
        r: cell.reports for r, cell in cells_holding(where, generation_id=before.pk).items()
    } == {resolution: 2 for resolution in resolutions()}

    after = hotspots_rebuild()

    assert after.report_count == 1
    cells = cells_holding(where, generation_id=after.pk)
    assert {resolution: cell.reports for resolution, cell in cells.items()} == {
        resolution: 1 for resolution in resolutions()
    }
    for resolution in resolutions():
        counted = HotspotCell.objects.filter(generation=after, resolution=resolution)
        assert sum(counted.values_list("reports", flat=True)) == 1


# --------------------------------------------------------------------------------------
# Places
# --------------------------------------------------------------------------------------


def cluster_rows(centre: XY, spec: list[tuple[int, dict[str, Any]]], *, seed: int) -> list[Row]:
    """Rows within 20 m of ``centre``: ``count`` of each kind in ``spec``."""
    kinds = [fields for count, fields in spec for _ in range(count)]
    points = scattered(centre, count=len(kinds), spread_m=20, seed=seed)
    return [Row(x, y, **fields) for (x, y), fields in zip(points, kinds, strict=True)]


NIGHT_FELT = datetime(2026, 11, 19, 23, 30, tzinfo=UTC)
DAY_FELT = datetime(2026, 11, 19, 12, tzinfo=UTC)
RECEIVED = datetime(2026, 11, 20, 9, tzinfo=UTC)


@committed
def test_dense_clusters_of_unsafe_reports_become_places_and_nothing_else_does(
    coarse_grids: None,
) -> None:
    worcester, hereford = projected(WORCESTER), projected(HEREFORD)
    # 30 reports: reasons 30 poor_lighting, 20 isolated, 10 followed, 4 no_cctv; 12 at
    # night, 15 by day, 3 unknown; streets 14 Angel Street, 10 The Shambles, 6 none.
    in_worcester = cluster_rows(
        worcester,
        [
            (4, {"reasons": ("poor_lighting", "isolated", "followed", "no_cctv"),
                 "felt_at": NIGHT_FELT, "street": "On or near Angel Street"}),
            (6, {"reasons": ("poor_lighting", "isolated", "followed"),
                 "felt_at": NIGHT_FELT, "street": "On or near Angel Street"}),
            (2, {"reasons": ("poor_lighting", "isolated"), "felt_at": NIGHT_FELT,
                 "street": "On or near Angel Street"}),
            (8, {"reasons": ("poor_lighting", "isolated"), "felt_at": DAY_FELT,
                 "street": "On or near The Shambles", "severity": 3}),
            (2, {"reasons": ("poor_lighting",), "felt_at": DAY_FELT,
                 "street": "On or near The Shambles"}),
            (2, {"reasons": ("poor_lighting",), "felt_at": DAY_FELT,
                 "street": "On or near Angel Street"}),
            (3, {"reasons": ("poor_lighting",), "felt_at": DAY_FELT, "severity": 1}),
            (3, {"reasons": ("poor_lighting",), "felt_at": None, "received_at": RECEIVED}),
        ],
        seed=1,
    )  # fmt: skip
    # 24 reports: 24 harassment_group, 15 drugs_alcohol, 15 run_down (a tie, broken by
    # name), 3 other; 6 at night
    # of 24 known; streets 11 none, 8 Union Street, 5 Commercial Road.
    in_hereford = cluster_rows(
        hereford,
        [
            (3, {"reasons": ("harassment_group", "drugs_alcohol", "run_down", "other"),
                 "felt_at": NIGHT_FELT, "street": "On or near Union Street"}),
            (3, {"reasons": ("harassment_group", "drugs_alcohol", "run_down"),
                 "felt_at": NIGHT_FELT, "street": "On or near Union Street"}),
            (2, {"reasons": ("harassment_group", "drugs_alcohol", "run_down"),
                 "felt_at": DAY_FELT, "street": "On or near Union Street"}),
            (5, {"reasons": ("harassment_group", "drugs_alcohol", "run_down"),
                 "felt_at": DAY_FELT, "street": "On or near Commercial Road"}),
            (2, {"reasons": ("harassment_group", "drugs_alcohol", "run_down"),
                 "felt_at": DAY_FELT}),
            (9, {"reasons": ("harassment_group",), "felt_at": DAY_FELT, "severity": None}),
        ],
        seed=2,
    )  # fmt: skip
    # Noise: unsafe reports half a kilometre apart; one too few for a core at Telford;
    # safe reports as dense as a place at Kidderminster.
    noise = [Row(worcester[0] + 1000 + 500 * k, worcester[1] - 2000) for k in range(10)]
    too_few = [
        Row(x, y)
        for x, y in scattered(projected(TELFORD), count=settings.PLACES_MIN_POINTS - 1, spread_m=5)
    ]
    safe = [
        Row(x, y, reasons=(), feeling="safe")
        for x, y in scattered(projected(KIDDERMINSTER), count=40, spread_m=10)
    ]
    ids = {
        "worcester": insert_reports(in_worcester),
        "hereford": insert_reports(in_hereford),
    }
    insert_reports(noise + too_few + safe)

    generation = hotspots_rebuild()

    assert generation.place_count == 2
    first, second = Place.objects.filter(generation=generation).order_by("-report_count")
    for place, rows, name, code in (
        (first, in_worcester, "worcester", "wm-south-worcestershire"),
        (second, in_hereford, "hereford", "wm-herefordshire"),
    ):
        assert place.report_count == len(rows)
        assert place.area == Area.objects.get(code=code)
        with connection.cursor() as cursor:
            # The members' own centroid, and how far the place's is from it and from each.
            cursor.execute(
                "SELECT ST_Distance(ST_Transform(p.centroid, %(srid)s), ST_Centroid("
                "   ST_Collect(r.location_projected))),"
                " max(ST_Distance(ST_Transform(p.hull, %(srid)s), r.location_projected))"
                " FROM geo_place p, reports_report r"
                " WHERE p.id = %(place)s AND r.id = ANY(%(ids)s::uuid[])"
                " GROUP BY p.centroid",
                {"srid": settings.ANALYSIS_SRID, "place": place.pk, "ids": ids[name]},
            )
            off_centroid, off_hull = cursor.fetchone()
        assert off_centroid < 0.01
        assert off_hull < 0.01
    place_centre = projected((first.centroid.x, first.centroid.y))
    assert math.dist(place_centre, worcester) < 20
    assert first.top_reasons == ["poor_lighting", "isolated", "followed"]
    assert second.top_reasons == ["harassment_group", "drugs_alcohol", "run_down"]
    assert first.night_share == pytest.approx(12 / 27)
    assert second.night_share == pytest.approx(6 / 24)
    assert (first.label, second.label) == ("Angel Street", "Union Street")
    for place, rows in ((first, in_worcester), (second, in_hereford)):
        expected = sum(weight(row, now=generation.started_at) for row in rows)
        assert place.score == pytest.approx(expected, rel=1e-6)


@pytest.mark.django_db
def test_places_clustered_in_parts_are_the_clusters_of_one_dbscan_over_every_report(
    coarse_grids: None,
) -> None:
    eps = settings.PLACES_EPS_M
    worcester, hereford, telford = projected(WORCESTER), projected(HEREFORD), projected(TELFORD)
    rows = [Row(x, y) for x, y in scattered(worcester, count=60, spread_m=25, seed=3)]
    rows += [Row(x, y) for x, y in scattered(hereford, count=40, spread_m=15, seed=4)]
    rows += [Row(x, y) for x, y in scattered(telford, count=30, spread_m=40, seed=5)]
    # A chain of reports 0.9 eps apart running 2 km east of Worcester into a second clump:
    # one group of touching cells, and one place, however far it reaches.
    rows += [Row(worcester[0] + 0.9 * eps * k, worcester[1]) for k in range(1, 56)]
    rows += [
        Row(x, y)
        for x, y in scattered((worcester[0] + 0.9 * eps * 56, worcester[1]), count=20,
                              spread_m=10, seed=6)
    ]  # fmt: skip
    # Sparse reports around Hereford: noise, or border points of its clump.
    rows += [Row(x, y) for x, y in scattered(hereford, count=30, spread_m=400, seed=7)]
    insert_reports(rows)

    parts = rebuild_module.place_parts(connection, 3)

    assert len(parts) == 3
    every = np.concatenate(parts)
    assert len(every) == len(set(every.tolist()))
    part_of = {
        (int(c), int(r)): k for k, cells in enumerate(parts)
        for c, r in zip(cells >> 32, ((cells & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000)
    }  # fmt: skip
    assert set(part_of) == {(math.floor(r.x / eps), math.floor(r.y / eps)) for r in rows}, (
        "every report's cell is in a part"
    )
    for (c, r), k in part_of.items():
        for dc in (-1, 0, 1):
            for dr in (-1, 0, 1):
                assert part_of.get((c + dc, r + dr), k) == k, "touching cells share a part"

    generation = hotspots_rebuild()

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), avg(ST_X(p)), avg(ST_Y(p))"
            " FROM (SELECT location_projected AS p,"
            "   ST_ClusterDBSCAN(location_projected, %(eps)s, %(min_points)s) OVER () AS c"
            "   FROM reports_report WHERE feeling = 'unsafe') d"
            " WHERE c IS NOT NULL GROUP BY c",
            {"eps": eps, "min_points": settings.PLACES_MIN_POINTS},
        )
        whole = sorted(cursor.fetchall())
        cursor.execute(
            "SELECT report_count, ST_X(c), ST_Y(c)"
            " FROM (SELECT report_count, ST_Transform(centroid, %(srid)s) AS c"
            "       FROM geo_place WHERE generation_id = %(generation)s) p",
            {"srid": settings.ANALYSIS_SRID, "generation": generation.pk},
        )
        in_parts = sorted(cursor.fetchall())
    assert len(whole) >= 4
    assert [n for n, _, _ in in_parts] == [n for n, _, _ in whole]
    for (_, x, y), (_, whole_x, whole_y) in zip(in_parts, whole, strict=True):
        assert (x, y) == (pytest.approx(whole_x, abs=1e-3), pytest.approx(whole_y, abs=1e-3))


# --------------------------------------------------------------------------------------
# The swap and failures
# --------------------------------------------------------------------------------------


@committed
def test_a_reader_during_rebuilds_always_sees_one_whole_generation(coarse_grids: None) -> None:
    reports_around(WORCESTER, count=60, spread_m=400)
    reports_around(HEREFORD, count=20, spread_m=300, seed=1)
    first = hotspots_rebuild()
    expected = HotspotCell.objects.filter(generation=first, resolution=200).count()
    assert expected > 10
    failures: list[BaseException] = []

    def rebuild_repeatedly() -> None:
        try:
            for _ in range(4):
                hotspots_rebuild()
        except BaseException as exc:
            failures.append(exc)
        finally:
            connections.close_all()

    builder = threading.Thread(target=rebuild_repeatedly)
    builder.start()
    reads: list[list[int]] = []
    while builder.is_alive():
        reads.append(list(hotspot_cells(resolution=200).values_list("generation_id", flat=True)))
    builder.join()
    reads.append(list(hotspot_cells(resolution=200).values_list("generation_id", flat=True)))

    assert failures == []
    assert len(reads) > 10
    assert [len(read) for read in reads] == [expected] * len(reads)
    assert [len(set(read)) for read in reads] == [1] * len(reads)
    seen = {read[0] for read in reads}
    assert len(seen) >= 2, "the reads overlapped no swap"
    assert reads[-1][0] == live().pk != first.pk


@committed
def test_a_failed_rebuild_leaves_the_live_generation_as_it_was(
    coarse_grids: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports_around(WORCESTER, count=30, spread_m=20)
    before = hotspots_rebuild()
    cells_before = list(HotspotCell.objects.filter(generation=before).order_by("pk").values())
    places_before = list(Place.objects.filter(generation=before).order_by("pk").values())
    reports_around(HEREFORD, count=30, spread_m=20, seed=1)
    real_write_cells, real_places = rebuild_module.write_cells, rebuild_module._places
    written: list[int] = []
    placed: list[int] = []

    def write_then_fail(generation_id: int, analysed: Any) -> int:
        if written:
            raise RuntimeError("disk full")
        real_write_cells(generation_id, analysed)
        written.append(HotspotCell.objects.filter(generation_id=generation_id).count())
        return written[-1]

    def places_counted(own: Any, generation_id: int, now: datetime, cells: Any) -> int:
        placed.append(real_places(own, generation_id, now, cells))
        return placed[-1]

    monkeypatch.setattr(rebuild_module, "write_cells", write_then_fail)
    monkeypatch.setattr(rebuild_module, "_places", places_counted)

    with pytest.raises(RuntimeError, match="disk full"):
        hotspots_rebuild()

    # It had written the first resolution's cells and the places before failing.
    assert written[0] > 0 and sum(placed) == 2
    failed = HotspotGeneration.objects.exclude(pk=before.pk).get()
    assert failed.status == HotspotGeneration.Status.FAILED
    assert failed.error == "RuntimeError('disk full')"
    assert not HotspotCell.objects.filter(generation=failed).exists()
    assert not Place.objects.filter(generation=failed).exists()
    assert live() == before
    assert live().built_at == before.built_at
    assert list(HotspotCell.objects.filter(generation=before).order_by("pk").values()) == (
        cells_before
    )
    assert list(Place.objects.filter(generation=before).order_by("pk").values()) == places_before
    served = list(hotspot_cells(resolution=200).values_list("generation_id", flat=True))
    assert served and set(served) == {before.pk}


# --------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------


@committed
def test_the_command_prints_each_step_and_a_summary_of_the_new_generation(
    coarse_grids: None,
) -> None:
    reports_around(WORCESTER, count=25, spread_m=20)
    out = StringIO()

    call_command("rebuild_hotspots", stdout=out)

    generation = live()
    lines = out.getvalue().splitlines()
    steps = [re.sub(r"^\[\s*\d+\.\d s\] ", "", line) for line in lines[:-1]]
    assert all(re.match(r"^\[\s*\d+\.\d s\] ", line) for line in lines[:-1])
    at = {
        resolution: HotspotCell.objects.filter(generation=generation, resolution=resolution).count()
        for resolution in resolutions()
    }
    assert steps == [
        "aggregating reports into cells",
        "Gi* at 200 m",
        f"writing {at[200]} cells at 200 m",
        "Gi* at 1000 m",
        f"writing {at[1000]} cells at 1000 m",
        "places",
        "swapping in",
    ]
    assert re.fullmatch(
        rf"Generation {generation.pk}: 25 reports, {generation.cell_count} cells, 1 places "
        r"in \d+\.\d s\.",
        lines[-1],
    )
    assert generation.cell_count == sum(at.values())


@pytest.mark.django_db
def test_the_command_refuses_naming_the_wait_while_another_rebuild_holds_the_lock(
    coarse_grids: None,
) -> None:
    with rebuild_lock() as acquired:
        assert acquired
        started = time.monotonic()
        with pytest.raises(CommandError, match=r"still running after 1 s"):
            call_command("rebuild_hotspots", wait=1, stdout=StringIO())
        assert time.monotonic() - started >= 0.9

    assert not HotspotGeneration.objects.exists()


# --------------------------------------------------------------------------------------
# Triggers: the debounce, and the Celery task
# --------------------------------------------------------------------------------------


def queued_tasks(broker: redis.Redis) -> list[dict[str, Any]]:
    """The headers of the messages in Celery's default queue (kombu keeps it as a list)."""
    messages = cast(list[bytes], broker.lrange("celery", 0, -1))
    return [json.loads(message)["headers"] for message in messages]


@pytest.mark.django_db
def test_a_burst_of_reports_queues_one_delayed_rebuild_and_a_report_after_it_starts_another(
    reporter: APIClient, settings: SettingsWrapper, broker: redis.Redis
) -> None:
    settings.HOTSPOT_DEBOUNCE_SECONDS = 30
    assert broker.llen("celery") == 0

    for _ in range(20):
        assert reporter.post("/api/v1/reports", a_report(), format="json").status_code == 201

    assert Report.objects.count() == 20
    [task] = queued_tasks(broker)
    assert task["task"] == "geo.tasks.hotspots_rebuild_task"
    eta = datetime.fromisoformat(task["eta"])
    assert timedelta(seconds=25) < eta - timezone.now() <= timedelta(seconds=30)
    assert 30 < cast(int, broker.ttl(QUEUED_KEY)) <= 30 + schedule.QUEUED_GRACE_SECONDS
    # Another process, which has not queued anything itself, sees the mark in Redis.
    forget_queued_locally()
    assert reporter.post("/api/v1/reports", a_report(), format="json").status_code == 201
    assert broker.llen("celery") == 1

    # The rebuild clears the mark as it starts: reports from then on queue the next one.
    with rebuild_lock() as acquired:
        assert acquired
    forget_queued_locally()
    assert reporter.post("/api/v1/reports", a_report(), format="json").status_code == 201

    assert broker.llen("celery") == 2


@pytest.fixture
def redis_down(settings: SettingsWrapper) -> Iterator[None]:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.REDIS_URL = f"redis://127.0.0.1:{port}/0"
    schedule._client.cache_clear()
    yield
    schedule._client.cache_clear()


@pytest.mark.django_db
def test_a_report_is_stored_when_redis_cannot_queue_a_rebuild(
    reporter: APIClient, redis_down: None, broker: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    body = a_report()

    response = reporter.post("/api/v1/reports", body, format="json")

    assert response.status_code == 201
    assert Report.objects.filter(pk=body["id"]).exists()
    assert broker.llen("celery") == 0
    assert "hotspot rebuild not queued, Redis unavailable" in caplog.text


@pytest.mark.slow
@committed
def test_a_real_worker_rebuilds_and_returns_the_live_generation(
    celery_queue: str, coarse_grids: None
) -> None:
    from geo.tasks import hotspots_rebuild_task

    reports_around(WORCESTER, count=15, spread_m=20)

    result = hotspots_rebuild_task.apply_async(queue=celery_queue)

    generation_id = result.get(timeout=60)
    result.forget()
    assert generation_id == live().pk
    assert live().report_count == 15


@pytest.mark.slow
@committed
def test_a_worker_that_finds_the_lock_held_builds_nothing_and_queues_another(
    celery_queue: str, broker: redis.Redis
) -> None:
    from geo.tasks import hotspots_rebuild_task

    with rebuild_lock() as acquired:
        assert acquired
        result = hotspots_rebuild_task.apply_async(queue=celery_queue)
        assert result.get(timeout=30) is None
        result.forget()

    assert not HotspotGeneration.objects.exists()
    [task] = queued_tasks(broker)
    assert task["task"] == "geo.tasks.hotspots_rebuild_task"
    assert broker.exists(QUEUED_KEY)
