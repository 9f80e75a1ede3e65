"""The rebuild: every resolution's cells, Gi* and classes, emerging trends and places.

A rebuild writes a new generation beside the live one and swaps the live flag in one
transaction; readers select through the live flag in the same statement as the rows, so
they see the old result or the new one, never an empty or a half one.
"""

import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import numpy as np
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.utils import timezone
from scipy import ndimage

from geo.hotspots.aggregate import Cells, cells_aggregate
from geo.hotspots.copy import copy_columns
from geo.hotspots.gistar import GiStar, gi_star, two_sided_p
from geo.hotspots.grid import Grid, Lattice, grids, to_axial
from geo.hotspots.places import place_parts, places_write
from geo.hotspots.stats import EMERGING_CATEGORIES, emerging_classes, mann_kendall
from geo.hotspots.study import service_area_bbox, service_area_key, study_mask
from geo.models import HotspotGeneration
from reports.reasons import REASON_CODES

logger = logging.getLogger(__name__)

T = TypeVar("T")

Progress = Callable[[str], None]

# How many parts places are clustered in (places.py), at the same time when they can be.
PLACE_PARTS = max(2, os.cpu_count() or 1)


@dataclass(frozen=True)
class Analysed:
    """One resolution's rows: the non-empty cells and the significant empty ones."""

    grid: Grid
    i: np.ndarray
    j: np.ndarray
    columns: dict[str, tuple[str, np.ndarray]]


def _parameters() -> dict[str, Any]:
    return {
        "resolutions": settings.HOTSPOT_RESOLUTIONS,
        "distance_bands": settings.HOTSPOT_DISTANCE_BANDS,
        "severity_weights": settings.HOTSPOT_SEVERITY_WEIGHTS,
        "half_life_days": settings.HOTSPOT_HALF_LIFE_DAYS,
        "emerging_resolution": settings.HOTSPOT_EMERGING_RESOLUTION,
        "emerging_months": settings.HOTSPOT_EMERGING_MONTHS,
        "places_eps_m": settings.PLACES_EPS_M,
        "places_min_points": settings.PLACES_MIN_POINTS,
        "srid": settings.ANALYSIS_SRID,
    }


def hotspots_rebuild(*, progress: Progress | None = None) -> HotspotGeneration:
    """Builds a new generation and makes it the live one; returns it.

    The caller holds the rebuild lock (``geo.hotspots.schedule.rebuild_lock``). A failed
    build is recorded as failed and the live generation stays as it was.
    """
    say = progress or (lambda step: None)
    started = timezone.now()
    clock = time.monotonic()
    generation = HotspotGeneration.objects.create(started_at=started, parameters=_parameters())
    try:
        report_count, cell_count, place_count = _build(generation, now=started, say=say)
    except Exception as exc:
        HotspotGeneration.objects.filter(pk=generation.pk).update(
            status=HotspotGeneration.Status.FAILED, error=repr(exc)[:2000]
        )
        _delete_rows([generation.pk])
        raise
    say("swapping in")
    with transaction.atomic():
        HotspotGeneration.objects.filter(status=HotspotGeneration.Status.LIVE).update(
            status=HotspotGeneration.Status.RETIRED
        )
        generation.status = HotspotGeneration.Status.LIVE
        generation.built_at = timezone.now()
        generation.duration_seconds = time.monotonic() - clock
        generation.report_count = report_count
        generation.cell_count = cell_count
        generation.place_count = place_count
        generation.save(
            update_fields=[
                "status",
                "built_at",
                "duration_seconds",
                "report_count",
                "cell_count",
                "place_count",
            ]
        )
    _retire_old(keep=generation.pk)
    logger.info(
        "hotspot generation %s: %s reports, %s cells, %s places in %.1f s",
        generation.pk,
        report_count,
        cell_count,
        place_count,
        generation.duration_seconds,
    )
    return generation


def _build(generation: HotspotGeneration, *, now: datetime, say: Progress) -> tuple[int, int, int]:
    bbox = service_area_bbox()
    if bbox is None:
        return 0, 0, 0
    key = service_area_key()
    # Places run in connections of their own, a part of the reports each (places.py),
    # while this one aggregates: DBSCAN is one statement on one core, and the machine has
    # more. Inside a transaction (tests) other connections would not see its reports.
    parallel = not connection.in_atomic_block
    with ThreadPoolExecutor(max_workers=1) as pool:
        placing = pool.submit(_places_side_by_side, generation.pk, now) if parallel else None
        say("aggregating reports into cells")
        by_resolution = cells_aggregate(
            grids(),
            now=now,
            monthly_resolution=settings.HOTSPOT_EMERGING_RESOLUTION,
            # The places' connections keep the other cores busy meanwhile.
            parallel=1,
        )
        report_count = int(next(iter(by_resolution.values())).reports.sum())
        cell_count = 0
        for grid in grids():
            say(f"Gi* at {grid.resolution} m")
            analysed = analyse_cells(grid, by_resolution[grid.resolution], bbox=bbox, key=key)
            say(f"writing {len(analysed.i)} cells at {grid.resolution} m")
            cell_count += write_cells(generation.pk, analysed)
        say("places")
        if placing is not None:
            place_count = placing.result()
        else:
            place_count = sum(
                _places(connection, generation.pk, now, cells)
                for cells in place_parts(connection, PLACE_PARTS)
            )
    return report_count, cell_count, place_count


def analyse_cells(
    grid: Grid, cells: Cells, *, bbox: tuple[float, float, float, float], key: str
) -> Analysed:
    lattice = Lattice.covering(grid, bbox)
    q, r = to_axial(cells.i, cells.j)
    on_lattice = lattice.inside(q, r)
    if not on_lattice.all():  # only if reports lie outside the service area's box
        logger.warning("%s cells outside the service area's box left out", (~on_lattice).sum())
    a, b = lattice.index(q[on_lattice], r[on_lattice])
    values = np.zeros(lattice.shape, dtype=np.int32)
    values[a, b] = cells.unsafe[on_lattice]
    study = study_mask(lattice, key, bbox)
    gi = gi_star(lattice, values, study)

    # Rows: the non-empty cells, and the empty ones that came out significant.
    cell_of = np.full(lattice.shape, -1, dtype=np.int64)
    cell_of[a, b] = np.flatnonzero(on_lattice)
    significant_empty = (gi.classes != 0) & (cell_of[gi.a, gi.b] < 0)
    row_a = np.concatenate([a, gi.a[significant_empty]])
    row_b = np.concatenate([b, gi.b[significant_empty]])
    source = cell_of[row_a, row_b]  # -1 for an empty cell
    z, classes = gi.at(row_a, row_b)
    p = two_sided_p(z)

    def per_row(values: np.ndarray) -> np.ndarray:
        out = np.zeros(len(source), dtype=values.dtype)
        out[source >= 0] = values[source[source >= 0]]
        return out

    # An empty significant cell takes an area from a neighbour holding reports (the one
    # with the highest area id, when there are several): it is within the band of them.
    area_dense = np.zeros(lattice.shape, dtype=np.int32)
    area_dense[a, b] = cells.area[on_lattice]
    area = per_row(cells.area)
    empty = source < 0
    if empty.any():
        nearby = ndimage.maximum_filter(area_dense, footprint=lattice.grid.kernel.astype(bool))
        area[empty] = nearby[row_a[empty], row_b[empty]]

    i, j = lattice.cells(row_a, row_b)
    columns: dict[str, tuple[str, np.ndarray]] = {
        "resolution": ("int4", np.full(len(i), grid.resolution)),
        "i": ("int4", i),
        "j": ("int4", j),
        "area": ("int4", area),
        "unsafe": ("int4", per_row(cells.unsafe)),
        "safe": ("int4", per_row(cells.safe)),
        "score": ("float8", per_row(cells.score)),
        "gi_z": ("float8", z),
        "gi_p": ("float8", p),
        "gi_class": ("int4", classes.astype(np.int32)),
    }
    for index in range(len(REASON_CODES)):
        columns[f"reason_{index}"] = ("int4", per_row(cells.reasons[:, index]))
    for index in range(cells.bands.shape[1]):
        columns[f"band_{index}"] = ("int4", per_row(cells.bands[:, index]))
    if cells.monthly is not None:
        monthly = cells.monthly[on_lattice]
        columns.update(_emerging(lattice, study, monthly, a, b, row_a, row_b))
    else:
        columns.update(_no_trend(len(row_a)))
    return Analysed(grid=grid, i=i, j=j, columns=columns)


def _no_trend(rows: int) -> dict[str, tuple[str, np.ndarray]]:
    return {
        "trend": ("int4", np.full(rows, -1)),
        "trend_tau": ("float8", np.zeros(rows)),
        "trend_p": ("float8", np.ones(rows)),
    }


def _emerging(
    lattice: Lattice,
    study: np.ndarray,
    monthly: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    row_a: np.ndarray,
    row_b: np.ndarray,
) -> dict[str, tuple[str, np.ndarray]]:
    """Emerging hot spot classes of the rows from the cells' monthly series.

    Each month's Gi* uses spatial neighbours within that month only (ArcGIS also pools
    the neighbouring time step); the months are the last HOTSPOT_EMERGING_MONTHS up to the
    latest month with a report, a month without reports being a step of zeros.
    """
    months = min(settings.HOTSPOT_EMERGING_MONTHS, monthly.shape[1])
    if months < 3 or len(row_a) == 0:
        return _no_trend(len(row_a))
    monthly = monthly[:, -months:]
    z_series = np.zeros((len(row_a), months))
    class_series = np.zeros((len(row_a), months), dtype=np.int8)
    for step in range(months):
        values = np.zeros(lattice.shape, dtype=np.int32)
        values[a, b] = monthly[:, step]
        month_gi: GiStar = gi_star(lattice, values, study)
        z_series[:, step], class_series[:, step] = month_gi.at(row_a, row_b)
    trend = mann_kendall(z_series)
    labels = emerging_classes(class_series, trend.z, trend.p)
    codes = np.array([EMERGING_CATEGORIES.index(label) if label else -1 for label in labels])
    return {
        "trend": ("int4", codes),
        "trend_tau": ("float8", trend.tau),
        "trend_p": ("float8", trend.p),
    }


_STAGING = """
CREATE TEMPORARY TABLE hotspot_cell_staging (
    resolution int4, i int4, j int4, area int4, unsafe int4, safe int4, score float8,
    gi_z float8, gi_p float8, gi_class int4, trend int4, trend_tau float8, trend_p float8,
    {reasons}, {bands}
) ON COMMIT DROP
"""

_FROM_STAGING = """
INSERT INTO geo_hotspotcell (
    generation_id, slice_id, resolution, i, j, area_id, unsafe, safe, reports, reason_counts,
    band_counts, score, gi_z, gi_p, gi_class, trend, trend_tau, trend_p
)
SELECT %(generation)s, %(slice)s, s.resolution, s.i, s.j, nullif(s.area, 0), s.unsafe, s.safe,
       s.unsafe + s.safe, ARRAY[{reasons}], ARRAY[{bands}], s.score, s.gi_z, s.gi_p,
       s.gi_class,
       CASE WHEN s.trend < 0 THEN '' ELSE (%(categories)s::text[])[s.trend + 1] END,
       CASE WHEN s.trend < 0 THEN NULL ELSE s.trend_tau END,
       CASE WHEN s.trend < 0 THEN NULL ELSE s.trend_p END
FROM hotspot_cell_staging s
"""


def write_cells(generation_id: int, analysed: Analysed, *, slice_id: int | None = None) -> int:
    reasons = [f"reason_{index}" for index in range(len(REASON_CODES))]
    bands = [name for name in analysed.columns if name.startswith("band_")]
    with transaction.atomic(), connection.cursor() as cursor:
        # Inside an outer transaction (tests) ON COMMIT has not come since the last one.
        cursor.execute("DROP TABLE IF EXISTS hotspot_cell_staging")
        cursor.execute(
            _STAGING.format(
                reasons=", ".join(f"{name} int4" for name in reasons),
                bands=", ".join(f"{name} int4" for name in bands),
            )
        )
        copy_columns(cursor, "hotspot_cell_staging", analysed.columns)
        cursor.execute(
            _FROM_STAGING.format(
                reasons=", ".join(f"s.{name}" for name in reasons),
                bands=", ".join(f"s.{name}" for name in bands),
            ),
            {
                "generation": generation_id,
                "slice": slice_id,
                "categories": list(EMERGING_CATEGORIES),
            },
        )
        return int(cursor.rowcount)


def _places(own: Any, generation_id: int, now: datetime, cells: np.ndarray) -> int:
    return places_write(own, generation_id, now, cells)


def _places_side_by_side(generation_id: int, now: datetime) -> int:
    """Places in parts, each part in a connection of its own at the same time."""

    def in_own_connection(work: Callable[[Any], T]) -> T:
        own = connections.create_connection(DEFAULT_DB_ALIAS)
        try:
            own.set_autocommit(True)
            return work(own)
        finally:
            own.close()

    parts = in_own_connection(lambda own: place_parts(own, PLACE_PARTS))
    with ThreadPoolExecutor(max_workers=len(parts) or 1) as pool:
        return sum(
            pool.map(
                lambda cells: in_own_connection(
                    lambda own: _places(own, generation_id, now, cells)
                ),
                parts,
            )
        )


def _delete_rows(generation_ids: list[int]) -> None:
    """Deletes generations' cells and places in bulk (the ORM would load each row)."""
    if not generation_ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM geo_hotspotcell WHERE generation_id = ANY(%s)", [generation_ids]
        )
        cursor.execute("DELETE FROM geo_place WHERE generation_id = ANY(%s)", [generation_ids])


def _retire_old(*, keep: int) -> None:
    """Drops every generation but the live one and the one before it.

    The one before stays so that a reader that looked up the live generation just before
    the swap still finds its rows.
    """
    previous = (
        HotspotGeneration.objects.filter(status=HotspotGeneration.Status.RETIRED)
        .exclude(pk=keep)
        .order_by("-started_at")
        .values_list("pk", flat=True)[:1]
    )
    doomed = list(
        HotspotGeneration.objects.exclude(pk=keep)
        .exclude(pk__in=list(previous))
        .exclude(status=HotspotGeneration.Status.BUILDING)
        .values_list("pk", flat=True)
    )
    with transaction.atomic():
        _delete_rows(doomed)
        HotspotGeneration.objects.filter(pk__in=doomed).delete()
