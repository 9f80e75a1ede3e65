"""The hotspot selectors: the live generation's cells and places, area summaries; one query each."""

import math
from collections import Counter
from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.contrib.gis.geos import Point, Polygon
from django.db import connection
from pytest_django import DjangoAssertNumQueries
from pytest_django.fixtures import Settings as SettingsWrapper

from geo.hotspots.rebuild import hotspots_rebuild
from geo.models import Area, HotspotCell, HotspotGeneration, Place
from geo.selectors import area_summary, hotspot_cells, places
from reports.models import Report
from reports.reasons import REASON_CODES
from tests.fixtures.points import HEREFORD, SHREWSBURY, WORCESTER
from tests.geo.hotspot_factories import (
    ORIGIN_SQL,
    XY,
    Row,
    insert_reports,
    prime_study_cache,
    projected,
    reports_around,
    scattered,
    use_coarse_grids,
)

pytestmark = pytest.mark.usefixtures("west_mercia")
# A rebuild's own connections must see the reports, so these tests commit them.
committed = pytest.mark.django_db(transaction=True)

BBox = tuple[float, float, float, float]


@pytest.fixture(autouse=True)
def _study_cached(west_mercia: None) -> None:
    prime_study_cache()


@pytest.fixture
def coarse_grids(settings: SettingsWrapper) -> None:
    use_coarse_grids(settings)


def area(code: str) -> Area:
    return Area.objects.get(code=code)


@pytest.fixture
def two_towns(coarse_grids: None) -> HotspotGeneration:
    """Reports spread over 400 m of Worcester and 300 m of Hereford, rebuilt once."""
    reports_around(WORCESTER, count=60, spread_m=400, seed=1)
    reports_around(HEREFORD, count=20, spread_m=300, seed=2)
    return hotspots_rebuild()


def hexagon(cell: HotspotCell) -> Polygon:
    """The cell's hexagon in WGS84, as ``hotspot_cells`` annotates it."""
    polygon: Polygon = getattr(cell, "hexagon")
    return polygon


def around(
    lonlat: tuple[float, float], *, west: float, south: float, east: float, north: float
) -> BBox:
    return (lonlat[0] - west, lonlat[1] - south, lonlat[0] + east, lonlat[1] + north)


def cells_intersecting(bbox: BBox, *, resolution: int) -> set[tuple[int, int]]:
    """The live cells whose hexagon meets the bbox, found without the selector's shortcuts."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.i, c.j FROM geo_hotspotcell c"
            " JOIN geo_hotspotgeneration g ON g.id = c.generation_id AND g.status = 'live'"
            " WHERE c.resolution = %(resolution)s AND ST_Intersects(ST_Transform("
            f"   ST_Hexagon(c.resolution / 2.0, c.i, c.j, {ORIGIN_SQL}), 4326),"
            "   ST_MakeEnvelope(%(xmin)s, %(ymin)s, %(xmax)s, %(ymax)s, 4326))",
            {
                "resolution": resolution,
                "srid": settings.ANALYSIS_SRID,
                "xmin": bbox[0],
                "ymin": bbox[1],
                "xmax": bbox[2],
                "ymax": bbox[3],
            },
        )
        return set(cursor.fetchall())


# --------------------------------------------------------------------------------------
# hotspot_cells
# --------------------------------------------------------------------------------------


@committed
def test_a_bbox_returns_exactly_the_cells_that_meet_it_with_hexagons_holding_their_reports(
    two_towns: HotspotGeneration, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    # About 350 m by 550 m across the middle of the Worcester reports: cells straddle it.
    bbox = around(WORCESTER, west=0.003, south=0.002, east=0.002, north=0.003)

    # 1. The live generation's cells at 200 m in the bbox, joined to the generation.
    with django_assert_num_queries(1):
        cells = list(hotspot_cells(resolution=200, bbox=bbox))

    everywhere = HotspotCell.objects.filter(generation=two_towns, resolution=200).count()
    assert 0 < len(cells) < everywhere
    assert {(cell.i, cell.j) for cell in cells} == cells_intersecting(bbox, resolution=200)
    assert {cell.generation_id for cell in cells} == {two_towns.pk}
    envelope = Polygon.from_bbox(bbox)
    locations = list(Report.objects.values_list("location", flat=True))
    for cell in cells:
        assert hexagon(cell).srid == 4326
        assert hexagon(cell).intersects(envelope)
        assert sum(hexagon(cell).contains(location) for location in locations) == cell.reports
    assert sum(cell.reports for cell in cells) > 0
    assert [(cell.i, cell.j) for cell in cells] == sorted((cell.i, cell.j) for cell in cells)


@committed
def test_the_area_filter_keeps_the_cells_of_that_local_policing_area(
    two_towns: HotspotGeneration, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    herefordshire = area("wm-herefordshire")

    # 1. The live generation's cells at 200 m of the area, joined to the generation.
    with django_assert_num_queries(1):
        cells = list(hotspot_cells(resolution=200, area=herefordshire))

    assert cells
    assert {cell.area_id for cell in cells} == {herefordshire.pk}
    assert sum(cell.reports for cell in cells) == 20
    hereford = Point(*HEREFORD, srid=4326)
    assert all(hexagon(cell).distance(hereford) < 0.05 for cell in cells)  # degrees: a few km


@committed
def test_the_class_filter_keeps_only_the_cells_of_those_gi_classes(
    coarse_grids: None, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    # A dense cluster makes hot spots; beside it a lone report far away is not one.
    reports_around(WORCESTER, count=200, spread_m=30)
    reports_around(SHREWSBURY, count=1, spread_m=0)
    generation = hotspots_rebuild()
    hot: list[int] = [HotspotCell.Class.HOT_90, HotspotCell.Class.HOT_95, HotspotCell.Class.HOT_99]

    # 1. The live generation's hot cells at 200 m, joined to the generation.
    with django_assert_num_queries(1):
        cells = list(hotspot_cells(resolution=200, classes=hot))

    every = HotspotCell.objects.filter(generation=generation, resolution=200)
    assert cells
    assert {cell.pk for cell in cells} == {cell.pk for cell in every if cell.gi_class > 0}
    [lone] = hotspot_cells(resolution=200, classes=[HotspotCell.Class.NOT_SIGNIFICANT])
    assert lone.reports == 1


@pytest.mark.django_db
def test_there_are_no_cells_before_the_first_generation(
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    reports_around(WORCESTER, count=5, spread_m=10)

    # 1. The live generation's cells at 200 m: there is no live generation.
    with django_assert_num_queries(1):
        cells = list(
            hotspot_cells(
                resolution=200, bbox=around(WORCESTER, west=0.1, south=0.1, east=0.1, north=0.1)
            )
        )

    assert cells == []


@committed
def test_a_resolution_the_rebuild_did_not_build_has_no_cells(
    two_towns: HotspotGeneration, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    assert 50 not in settings.HOTSPOT_RESOLUTIONS

    # 1. The live generation's cells at 50 m: none were built.
    with django_assert_num_queries(1):
        cells = list(hotspot_cells(resolution=50))

    assert cells == []
    assert hotspot_cells(resolution=200).exists()


def cell_holding(xy: XY, *, resolution: int) -> tuple[int, int]:
    """The (i, j) of the cell that holds ``xy``: the nearest centre, checked with PostGIS."""
    size = resolution / 2
    w, h = 1.5 * size, math.sqrt(3) * size

    def centre(i: int, j: int) -> XY:
        return w * i, h * (j + (i % 2) / 2)

    candidates = [
        (i, j + dj)
        for i in range(math.floor(xy[0] / w) - 1, math.floor(xy[0] / w) + 3)
        for j in [round(xy[1] / h - (i % 2) / 2)]
        for dj in (-1, 0, 1)
    ]
    i, j = min(candidates, key=lambda cell: math.dist(centre(*cell), xy))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT ST_Intersects(ST_Hexagon(%(size)s, %(i)s, %(j)s, {ORIGIN_SQL}),"
            " ST_SetSRID(ST_MakePoint(%(x)s, %(y)s), %(srid)s))",
            {"size": size, "i": i, "j": j, "x": xy[0], "y": xy[1], "srid": settings.ANALYSIS_SRID},
        )
        assert cursor.fetchone()[0]
    return i, j


@pytest.mark.django_db
def test_a_wide_bbox_keeps_the_cells_along_its_edges_at_the_finest_resolution() -> None:
    bbox = (-2.5, 52.3, -1.5, 52.5)
    # 2 m inside the bottom edge, on the central meridian.
    i, j = cell_holding(projected((-2.0, 52.30002)), resolution=50)
    generation = HotspotGeneration.objects.create(
        status=HotspotGeneration.Status.LIVE, started_at=datetime(2026, 11, 1, tzinfo=UTC)
    )
    HotspotCell.objects.create(
        generation=generation, resolution=50, i=i, j=j, unsafe=1, safe=0, reports=1,
        reason_counts=[1] + [0] * (len(REASON_CODES) - 1), band_counts=[1, 0, 0, 0],
        score=1.0, gi_z=0.0, gi_p=1.0, gi_class=0,
    )  # fmt: skip
    assert cells_intersecting(bbox, resolution=50) == {(i, j)}

    cells = list(hotspot_cells(resolution=50, bbox=bbox))

    assert [(cell.i, cell.j) for cell in cells] == [(i, j)]


# --------------------------------------------------------------------------------------
# places
# --------------------------------------------------------------------------------------


@committed
def test_places_of_an_area_come_from_the_live_generation_biggest_first(
    coarse_grids: None, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    reports_around(WORCESTER, count=30, spread_m=20, seed=1)
    east_of_worcester = (WORCESTER[0] + 0.015, WORCESTER[1])  # about 1 km
    reports_around(east_of_worcester, count=14, spread_m=20, seed=2)
    reports_around(HEREFORD, count=20, spread_m=20, seed=3)
    retired = hotspots_rebuild()
    generation = hotspots_rebuild()
    south_worcestershire = area("wm-south-worcestershire")

    # 1. The live generation's places in the area, joined to the generation.
    with django_assert_num_queries(1):
        found = list(places(area=south_worcestershire))

    assert [place.report_count for place in found] == [30, 14]
    assert {place.generation_id for place in found} == {generation.pk}
    assert {place.area_id for place in found} == {south_worcestershire.pk}
    assert Place.objects.filter(generation=retired, area=south_worcestershire).count() == 2
    # The bbox filter, on the place's centroid.
    near_hereford = list(
        places(
            bbox=(HEREFORD[0] - 0.01, HEREFORD[1] - 0.01, HEREFORD[0] + 0.01, HEREFORD[1] + 0.01)
        )
    )
    assert [(place.report_count, place.generation_id) for place in near_hereford] == [
        (20, generation.pk)
    ]


# --------------------------------------------------------------------------------------
# area_summary
# --------------------------------------------------------------------------------------


DAY, EVENING, NIGHT, UNKNOWN = "day", "evening", "night", "unknown"
# Hours UTC: in BST (May to October) and GMT (November) alike, 12:00 is day, 20:00 evening
# and 23:30 night in local time.
HOURS = {DAY: (12, 0), EVENING: (20, 0), NIGHT: (23, 30)}


def monthly_rows(centre: XY, counts: dict[tuple[int, int], int], *, seed: int) -> list[Row]:
    """``counts[year, month]`` unsafe reports within 20 m of ``centre``, felt on the 10th.

    The k-th of all takes band k mod 4 (unknown: received that day) and reason k mod 10.
    """
    rows: list[Row] = []
    bands = [DAY, EVENING, NIGHT, UNKNOWN]
    points = iter(scattered(centre, count=sum(counts.values()), spread_m=20, seed=seed))
    for (year, month), count in counts.items():
        for _ in range(count):
            k = len(rows)
            band = bands[k % 4]
            when = datetime(year, month, 10, *HOURS.get(band, (9, 0)), tzinfo=UTC)
            rows.append(
                Row(
                    *next(points),
                    reasons=(REASON_CODES[k % 10],),
                    felt_at=None if band == UNKNOWN else when,
                    received_at=when,
                )
            )
    return rows


@committed
def test_an_area_summary_counts_its_reports_and_sees_a_rising_month_on_month_trend(
    coarse_grids: None, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    # 1, 2, ... 7 unsafe reports a month from May to November 2026, all in Worcester.
    rising = monthly_rows(
        projected(WORCESTER), {(2026, month): month - 4 for month in range(5, 12)}, seed=1
    )
    insert_reports(rising)
    # Safe reports count as safe, and in no month, reason or band.
    insert_reports(
        [
            Row(
                x,
                y,
                reasons=("other",),
                feeling="safe",
                felt_at=datetime(2026, 4, 10, 23, tzinfo=UTC),
            )
            for x, y in scattered(projected(WORCESTER), count=4, spread_m=300, seed=2)
        ]
    )
    # Reports in another area count for that area only.
    insert_reports(monthly_rows(projected(HEREFORD), {(2026, 11): 15}, seed=3))
    hotspots_rebuild()
    live = hotspots_rebuild()
    south_worcestershire = area("wm-south-worcestershire")

    # 1. Counts by reason, band and month, and the top places of the live generation.
    with django_assert_num_queries(1):
        summary = area_summary(area=south_worcestershire)

    assert (summary.area, summary.unsafe, summary.safe) == (south_worcestershire, 28, 4)
    reasons = Counter(code for row in rising for code in row.reasons)
    assert summary.by_reason == {code: reasons[code] for code in REASON_CODES}
    assert summary.by_band == {DAY: 7, EVENING: 7, NIGHT: 7, UNKNOWN: 7}
    assert summary.monthly == [(f"2026-{month:02d}", month - 4) for month in range(5, 12)]
    assert summary.trend == "rising"
    assert summary.trend_p is not None and summary.trend_p < 0.05
    [place] = Place.objects.filter(generation=live, area=south_worcestershire)
    assert [(p["id"], p["reports"]) for p in summary.top_places] == [(place.pk, 28)]
    assert summary.top_places[0]["top_reasons"] == place.top_reasons
    assert summary.top_places[0]["night_share"] == pytest.approx(7 / 21)


@pytest.mark.django_db
def test_an_area_summary_of_a_flat_series_sees_no_clear_trend(
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    insert_reports(
        monthly_rows(projected(HEREFORD), {(2026, month): 3 for month in range(5, 11)}, seed=1)
    )

    herefordshire = area("wm-herefordshire")

    # 1. Counts by reason, band and month, and the top places (no live generation: none).
    with django_assert_num_queries(1):
        summary = area_summary(area=herefordshire)

    assert summary.unsafe == 18
    assert summary.monthly == [(f"2026-{month:02d}", 3) for month in range(5, 11)]
    assert summary.trend == "no clear trend"
    assert summary.top_places == []
    # The other areas have none of these reports.
    assert area_summary(area=area("wm-south-worcestershire")).unsafe == 0


@pytest.mark.django_db
def test_an_area_summary_counts_a_month_without_reports_as_zero_and_keeps_twelve(
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    # Reports in January and in March to December 2025, and in February and March 2026,
    # none in 2026's January: fourteen months from the first, twelve shown, one of them 0.
    counts = {(2025, 1): 9, **{(2025, month): 2 for month in range(3, 13)}}
    counts |= {(2026, 2): 4, (2026, 3): 5}
    insert_reports(monthly_rows(projected(HEREFORD), counts, seed=1))
    herefordshire = area("wm-herefordshire")

    with django_assert_num_queries(1):
        summary = area_summary(area=herefordshire)

    assert summary.unsafe == 9 + 20 + 9
    assert summary.monthly == [
        *((f"2025-{month:02d}", 2) for month in range(4, 13)),
        ("2026-01", 0),
        ("2026-02", 4),
        ("2026-03", 5),
    ]
