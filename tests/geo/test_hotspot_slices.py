"""Filter slices: the hotspots of some of the reports, built on demand and kept."""

import threading
from datetime import UTC, datetime

import numpy as np
import pytest
from django.db import connection, connections
from pytest_django import DjangoAssertNumQueries
from pytest_django.fixtures import Settings as SettingsWrapper

from geo.hotspots.aggregate import Slice
from geo.hotspots.grid import grid_for
from geo.hotspots.rebuild import hotspots_rebuild
from geo.hotspots.slices import hotspot_slice
from geo.models import Area, HotspotCell, HotspotGeneration, HotspotSlice
from geo.selectors import hotspot_cells
from reports.reasons import REASON_CODES
from tests.fixtures.points import HEREFORD, WORCESTER
from tests.geo.hotspot_factories import (
    Row,
    insert_reports,
    prime_study_cache,
    projected,
    reports_around,
    scattered,
    use_coarse_grids,
)

pytestmark = [pytest.mark.usefixtures("west_mercia"), pytest.mark.django_db]

NIGHT = datetime(2026, 10, 3, 1, 30, tzinfo=UTC)  # 02:30 in London: night
DAY = datetime(2026, 10, 3, 11, 0, tzinfo=UTC)  # 12:00: day
LATE = datetime(2026, 11, 3, 11, 0, tzinfo=UTC)  # a month later, by day


@pytest.fixture(autouse=True)
def _grids(settings: SettingsWrapper, west_mercia: None) -> None:
    use_coarse_grids(settings)
    prime_study_cache()


@pytest.fixture
def towns() -> HotspotGeneration:
    """Poor lighting at night in Worcester; harassment by day in Hereford, some a month on.

    Worcester: 40 poor_lighting at night within 150 m, 10 of them also no_cctv.
    Hereford: 30 harassment_group by day within 150 m, 12 of them felt a month later.
    Both: 60 'other' reports by day spread over 3 km of each, the background.
    """
    worcester, hereford = projected(WORCESTER), projected(HEREFORD)
    rows = [
        Row(x, y, reasons=("poor_lighting", "no_cctv") if k < 10 else ("poor_lighting",),
            felt_at=NIGHT)
        for k, (x, y) in enumerate(scattered(worcester, count=40, spread_m=150, seed=1))
    ]  # fmt: skip
    rows += [
        Row(x, y, reasons=("harassment_group",), felt_at=LATE if k < 12 else DAY)
        for k, (x, y) in enumerate(scattered(hereford, count=30, spread_m=150, seed=2))
    ]
    for seed, centre in enumerate((worcester, hereford), start=3):
        rows += [
            Row(x, y, reasons=("other",), felt_at=DAY)
            for x, y in scattered(centre, count=60, spread_m=3000, seed=seed)
        ]
    insert_reports(rows)
    return hotspots_rebuild()


def counts(cells: list[HotspotCell]) -> tuple[int, int]:
    return sum(cell.unsafe for cell in cells), sum(cell.reports for cell in cells)


def hot_near(cells: list[HotspotCell], lonlat: tuple[float, float]) -> list[HotspotCell]:
    """The hot cells (any confidence) whose centre is within 300 m of a place."""
    x, y = projected(lonlat)
    hot = [cell for cell in cells if cell.gi_class > 0]
    if not hot:
        return []
    grid = grid_for(hot[0].resolution)
    cx, cy = grid.centres(np.array([c.i for c in hot]), np.array([c.j for c in hot]))
    return [cell for cell, near in zip(hot, np.hypot(cx - x, cy - y) < 300, strict=True) if near]


def test_a_slice_of_every_report_is_the_generation_itself(towns: HotspotGeneration) -> None:
    whole = list(hotspot_cells(resolution=200))
    # A filter that keeps every report: all the reasons any report has.
    every_reason = Slice(reasons=tuple(REASON_CODES))

    sliced = list(hotspot_cells(resolution=200, selection=every_reason))

    def fields(cell: HotspotCell) -> tuple[object, ...]:
        return (cell.i, cell.j, cell.unsafe, cell.safe, cell.reason_counts, cell.band_counts,
                round(cell.score, 9), round(cell.gi_z, 9), cell.gi_class, cell.area_id)  # fmt: skip

    assert len(whole) > 20
    assert [fields(cell) for cell in sliced] == [fields(cell) for cell in whole]
    assert {cell.slice_id for cell in sliced} == {HotspotSlice.objects.get().pk}
    assert all(cell.slice_id is None for cell in whole)


def test_a_reason_slice_counts_and_tests_only_reports_with_those_reasons(
    towns: HotspotGeneration,
) -> None:
    lighting = list(hotspot_cells(resolution=200, selection=Slice(reasons=("poor_lighting",))))
    either = list(
        hotspot_cells(resolution=200, selection=Slice(reasons=("no_cctv", "harassment_group")))
    )

    assert counts(lighting) == (40, 40)
    assert sum(cell.reason_counts[REASON_CODES.index("no_cctv")] for cell in lighting) == 10
    assert sum(cell.reason_counts[REASON_CODES.index("other")] for cell in lighting) == 0
    assert hot_near(lighting, WORCESTER) and not hot_near(lighting, HEREFORD)
    # Any of the reasons: 10 no_cctv in Worcester, 30 harassment in Hereford.
    assert counts(either) == (40, 40)
    assert hot_near(either, HEREFORD)


def test_a_time_band_slice_keeps_the_reports_felt_in_that_band(towns: HotspotGeneration) -> None:
    night = list(hotspot_cells(resolution=200, selection=Slice(band="night")))
    day = list(hotspot_cells(resolution=200, selection=Slice(band="day")))

    assert counts(night) == (40, 40)
    assert all(cell.band_counts == [0, 0, cell.unsafe, 0] for cell in night)
    assert hot_near(night, WORCESTER) and not hot_near(night, HEREFORD)
    assert counts(day) == (30 + 120, 150)
    assert hot_near(day, HEREFORD)


def test_a_date_window_slice_runs_from_since_up_to_until(towns: HotspotGeneration) -> None:
    october = Slice(
        since=datetime(2026, 10, 3, 11, 0, tzinfo=UTC),
        until=datetime(2026, 11, 3, 11, 0, tzinfo=UTC),
    )
    november = Slice(since=datetime(2026, 11, 3, 11, 0, tzinfo=UTC))

    # The window starts at DAY (kept) and ends at LATE (left out): the night reports of
    # the 3rd at 01:30 are before it.
    assert counts(list(hotspot_cells(resolution=200, selection=october))) == (18 + 120, 138)
    assert counts(list(hotspot_cells(resolution=200, selection=november))) == (12, 12)


def test_filters_combine_and_the_cell_filters_still_apply(towns: HotspotGeneration) -> None:
    selection = Slice(reasons=("poor_lighting", "other"), band="day")
    herefordshire = Area.objects.get(code="wm-herefordshire")

    every = list(hotspot_cells(resolution=200, selection=selection))
    cells = list(hotspot_cells(resolution=200, selection=selection, area=herefordshire))

    # By day, of these reasons, only the background: 60 of them about Hereford.
    assert counts(every) == (120, 120)
    assert counts(cells) == (60, 60)
    assert [c.pk for c in cells] == [c.pk for c in every if c.area_id == herefordshire.pk]
    wanted = [every[0].gi_class]
    of_class = list(hotspot_cells(resolution=200, selection=selection, classes=wanted))
    assert of_class and [c.pk for c in of_class] == [c.pk for c in every if c.gi_class in wanted]


def test_a_slice_is_built_once_per_generation_then_read_in_two_queries(
    towns: HotspotGeneration, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    selection = Slice(reasons=("harassment_group",))
    first = list(hotspot_cells(resolution=200, selection=selection))
    built = HotspotSlice.objects.get()

    with django_assert_num_queries(2):
        again = list(hotspot_cells(resolution=200, selection=selection))

    assert [cell.pk for cell in again] == [cell.pk for cell in first]
    assert (built.generation, built.resolution, built.reasons) == (
        towns, 200, ["harassment_group"]
    )  # fmt: skip
    assert (built.report_count, built.cell_count) == (30, len(first))
    # A built slice is kept for its generation; reports that arrive later are in the next.
    reports_around(HEREFORD, count=5, spread_m=50, seed=9, reasons=("harassment_group",))
    assert counts(list(hotspot_cells(resolution=200, selection=selection))) == (30, 30)
    hotspots_rebuild()
    assert counts(list(hotspot_cells(resolution=200, selection=selection))) == (35, 35)
    assert HotspotSlice.objects.count() == 2


def test_slices_of_deleted_generations_go_with_them(towns: HotspotGeneration) -> None:
    list(hotspot_cells(resolution=200, selection=Slice(band="night")))
    first_slice = HotspotSlice.objects.get()

    hotspots_rebuild()  # the first generation is retired and kept
    hotspots_rebuild()  # and now deleted, with its slice and its cells

    assert not HotspotSlice.objects.filter(pk=first_slice.pk).exists()
    assert not HotspotCell.objects.filter(slice_id=first_slice.pk).exists()
    assert not HotspotCell.objects.filter(generation=towns).exists()


def test_there_is_no_slice_before_the_first_generation() -> None:
    reports_around(WORCESTER, count=10, spread_m=50)

    assert list(hotspot_cells(resolution=200, selection=Slice(band="night"))) == []
    assert not HotspotSlice.objects.exists()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"reasons": ("poor_lighting", "dragons")}, "Unknown reason: dragons."),
        ({"band": "dusk"}, "Unknown time band 'dusk'"),
        (
            {"since": datetime(2026, 2, 1, tzinfo=UTC), "until": datetime(2026, 1, 1, tzinfo=UTC)},
            "start must come before its end",
        ),
    ],
)
def test_a_bad_filter_is_refused_naming_what_is_wrong(
    fields: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Slice(**fields)  # type: ignore[arg-type]


def test_equal_filters_share_a_key_whatever_their_order_or_time_zone() -> None:
    from zoneinfo import ZoneInfo

    london = ZoneInfo("Europe/London")
    a = Slice(reasons=("no_cctv", "followed"), since=datetime(2026, 7, 1, 1, tzinfo=london))
    b = Slice(
        reasons=("followed", "no_cctv", "followed"), since=datetime(2026, 7, 1, 0, tzinfo=UTC)
    )

    assert a.key == b.key
    assert a.key != Slice(reasons=("followed",)).key


@pytest.mark.django_db(transaction=True)
def test_two_requests_for_a_missing_slice_build_it_once() -> None:
    reports_around(WORCESTER, count=40, spread_m=150, felt_at=NIGHT)
    generation = hotspots_rebuild()
    selection = Slice(band="night")
    results: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def ask() -> None:
        try:
            start.wait()
            results.append(hotspot_slice(selection, resolution=200, generation=generation).pk)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    assert len(results) == 2 and results[0] == results[1]
    assert HotspotSlice.objects.count() == 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), count(DISTINCT (i, j)) FROM geo_hotspotcell "
                       "WHERE slice_id = %s", [results[0]])  # fmt: skip
        rows, distinct = cursor.fetchone()
    assert rows == distinct > 0
