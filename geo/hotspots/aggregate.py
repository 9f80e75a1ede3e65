"""Per-cell aggregates of one resolution, for all reports or a filter slice.

The SQL in ``sql/aggregate.sql`` bins reports into hexagons and groups them; its result
arrives as binary COPY (fixed-width columns, read straight into numpy) and numpy sums the
groups of each cell. Python never sees a report.
"""

import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper

from geo.hotspots.grid import SQRT3, Grid
from reports.reasons import REASON_CODES

T = TypeVar("T")

_AGGREGATE_SQL = (Path(__file__).parent / "sql" / "aggregate.sql").read_text()

BANDS = ("day", "evening", "night", "unknown")

# One row of the binary COPY: a field count, then (length, value) for each column.
_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("resolution", [("length", ">i4"), ("value", ">i4")]),
        ("cell", [("length", ">i4"), ("value", ">i8")]),
        ("attributes", [("length", ">i4"), ("value", ">i4")]),
        ("area", [("length", ">i4"), ("value", ">i4")]),
        ("reports", [("length", ">i4"), ("value", ">i4")]),
        ("score", [("length", ">i4"), ("value", ">f8")]),
    ]
)
_HEADER = 19  # signature (11), flags (4), header extension length (4, always 0 here)


@dataclass(frozen=True)
class Slice:
    """Which reports go in: any of some reasons, one time band, a date window."""

    reasons: tuple[str, ...] = ()
    band: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    @property
    def reason_mask(self) -> int:
        return sum(1 << REASON_CODES.index(code) for code in set(self.reasons))


@dataclass
class Cells:
    """One resolution's non-empty cells and what is in them."""

    i: np.ndarray
    j: np.ndarray
    unsafe: np.ndarray
    safe: np.ndarray
    reasons: np.ndarray  # (cells, len(REASON_CODES)), unsafe reports only
    bands: np.ndarray  # (cells, 4), unsafe reports only
    score: np.ndarray
    area: np.ndarray  # the local policing area most of the cell's reports fell in, or 0
    # (cells, months) unsafe counts when asked for, the months as year * 12 + month - 1.
    monthly: np.ndarray | None = None
    months: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.i)

    @property
    def reports(self) -> np.ndarray:
        return self.unsafe + self.safe


def _read_groups(connection: BaseDatabaseWrapper, sql: str) -> np.ndarray:
    buffer = io.BytesIO()
    with connection.cursor() as cursor:
        cursor.execute("SET jit = off")
        cursor.execute("SET work_mem = '256MB'")
        cursor.copy_expert(f"COPY ({sql}) TO STDOUT WITH (FORMAT binary)", buffer)
    raw = buffer.getbuffer()
    body = raw[_HEADER : len(raw) - 2]  # the trailer is a field count of -1
    return np.frombuffer(body, dtype=_ROW)


def _page_ranges(parts: int) -> list[tuple[int, int]]:
    """``parts`` ranges of the reports table's pages; the last one is open-ended."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_relation_size('reports_report') / current_setting('block_size')::int"
        )
        pages = int(cursor.fetchone()[0])
    step = max(pages // parts, 1)
    edges = [min(k * step, pages) for k in range(parts)] + [2**32 - 1]
    return [(edges[k], edges[k + 1]) for k in range(parts)]


def _in_new_connection(work: Callable[[BaseDatabaseWrapper], T]) -> T:
    """Runs ``work`` with a connection of its own (for a worker thread)."""
    own = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        return work(own)
    finally:
        own.close()


def cells_aggregate(
    grids: list[Grid],
    *,
    now: datetime,
    selection: Slice | None = None,
    monthly_resolution: int | None = None,
    parallel: int = 2,
) -> dict[int, Cells]:
    """Bins and sums the reports of ``selection`` (all by default) on every grid.

    One pass over the reports; with ``parallel`` > 1 that many connections each take a
    share of the table's pages (PostgreSQL runs a statement on one core otherwise).
    """
    selection = selection or Slice()
    weights = settings.HOTSPOT_SEVERITY_WEIGHTS
    params: dict[str, Any] = {
        "resolutions": [grid.resolution for grid in grids],
        "ws": [1.5 * grid.size for grid in grids],
        "hs": [SQRT3 * grid.size for grid in grids],
        "monthly_resolution": monthly_resolution or 0,
        "now": now,
        "weight1": weights[0],
        "weight2": weights[1],
        "weight3": weights[2],
        "half_life_seconds": settings.HOTSPOT_HALF_LIFE_DAYS * 86400.0,
        "reason_mask": selection.reason_mask,
        "since": selection.since,
        "until": selection.until,
        "band": BANDS.index(selection.band) if selection.band else -1,
    }
    ranges = _page_ranges(parallel)

    def read(bounds: tuple[int, int], own: BaseDatabaseWrapper) -> np.ndarray:
        with own.cursor() as cursor:
            sql = cursor.mogrify(
                _AGGREGATE_SQL,
                {**params, "first_tid": f"({bounds[0]},0)", "end_tid": f"({bounds[1]},0)"},
            ).decode()
        return _read_groups(own, sql)

    if len(ranges) == 1:
        groups = read(ranges[0], connection)
    else:
        with ThreadPoolExecutor(max_workers=len(ranges)) as pool:
            parts = list(
                pool.map(
                    lambda bounds: _in_new_connection(partial(read, bounds)),
                    ranges,
                )
            )
        groups = np.concatenate(parts)
    resolution = groups["resolution"]["value"]
    return {
        grid.resolution: _sum_groups(
            groups[resolution == grid.resolution],
            by_month=grid.resolution == monthly_resolution,
        )
        for grid in grids
    }


def _sum_groups(groups: np.ndarray, *, by_month: bool) -> Cells:
    keys = groups["cell"]["value"].astype(np.int64)
    attributes = groups["attributes"]["value"].astype(np.int64)
    reports = groups["reports"]["value"].astype(np.int64)
    bits = attributes & 0x3FF
    band = (attributes >> 10) & 3
    safe = ((attributes >> 12) & 1).astype(bool)
    area = groups["area"]["value"].astype(np.int64)
    score = groups["score"]["value"].astype(np.float64)
    unsafe_reports = np.where(safe, 0, reports)

    unique, cell = np.unique(keys, return_inverse=True)
    count = len(unique)

    def per_cell(weights: np.ndarray) -> np.ndarray:
        return np.bincount(cell, weights=weights, minlength=count)

    reasons = np.zeros((count, len(REASON_CODES)), dtype=np.int64)
    for bit in range(len(REASON_CODES)):
        reasons[:, bit] = per_cell(unsafe_reports * ((bits >> bit) & 1)).astype(np.int64)
    bands = np.zeros((count, len(BANDS)), dtype=np.int64)
    for index in range(len(BANDS)):
        bands[:, index] = per_cell(unsafe_reports * (band == index)).astype(np.int64)

    # The cell's area: the one most of its reports fell in.
    span = int(area.max()) + 1 if len(area) else 1
    pairs, pair = np.unique(cell * span + area, return_inverse=True)
    pair_reports = np.bincount(pair, weights=reports)
    pair_cell, pair_area = pairs // span, pairs % span
    order = np.lexsort((-pair_reports, pair_cell))
    first = np.ones(len(order), dtype=bool)
    first[1:] = pair_cell[order][1:] != pair_cell[order][:-1]
    cell_area = np.zeros(count, dtype=np.int64)
    cell_area[pair_cell[order][first]] = pair_area[order][first]

    monthly = None
    months = np.zeros(0, dtype=np.int64)
    if by_month and len(groups):
        month = attributes >> 13
        months = np.arange(month.min(), month.max() + 1)
        monthly = np.zeros((count, len(months)), dtype=np.int64)
        np.add.at(monthly, (cell, month - months[0]), unsafe_reports)

    return Cells(
        i=unique >> 32,
        j=((unique & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000,
        unsafe=per_cell(unsafe_reports).astype(np.int64),
        safe=per_cell(np.where(safe, reports, 0)).astype(np.int64),
        reasons=reasons,
        bands=bands,
        score=per_cell(np.where(safe, 0.0, score)),
        area=cell_area,
        monthly=monthly,
        months=months,
    )
