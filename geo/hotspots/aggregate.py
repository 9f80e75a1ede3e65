"""Per-cell aggregates of one resolution, for all reports or a filter slice.

The SQL in ``sql/aggregate.sql`` bins reports into hexagons and groups them; its result
arrives as binary COPY (fixed-width columns, read straight into numpy) and numpy sums the
groups of each cell. Python never sees a report.
"""

import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper

from geo.hotspots.grid import SQRT3, Grid
from geo.hotspots.weights import WEIGHT_SQL, weight_parameters
from reports.reasons import REASON_CODES

T = TypeVar("T")

_AGGREGATE_SQL = (Path(__file__).parent / "sql" / "aggregate.sql").read_text()

# The steps of aggregate.sql for one resolution, k its position in the list of grids.
_STEPS = {
    "located": "x / %(w_{k})s AS u_{k}, floor(x / %(w_{k})s)::int AS i0_{k}, "
    "y / %(h_{k})s AS v_{k}",
    # float8 casts: 0.5 * an int would be numeric, which is many times slower.
    "columns": "u_{k}, i0_{k}, v_{k} - 0.5 * (i0_{k} & 1)::float8 AS a0_{k}, "
    "v_{k} - 0.5 * ((i0_{k} + 1) & 1)::float8 AS a1_{k}",
    "nearest": "u_{k}, i0_{k}, round(a0_{k})::int AS j0_{k}, a0_{k} - round(a0_{k}) AS e0_{k}, "
    "round(a1_{k})::int AS j1_{k}, a1_{k} - round(a1_{k}) AS e1_{k}",
    "chosen": "i0_{k}, j0_{k}, j1_{k}, "
    "(2.0 * (u_{k} - i0_{k}) - 1.0) <= (4.0 / 3.0) * (e1_{k} * e1_{k} - e0_{k} * e0_{k}) "
    "AS left_{k}",
    # (i, j) in one bigint.
    "cells": "(CASE WHEN left_{k} THEN i0_{k} ELSE i0_{k} + 1 END)::int8 << 32 "
    "| ((CASE WHEN left_{k} THEN j0_{k} ELSE j1_{k} END)::int8 & 4294967295) AS cell_{k}",
}


def _aggregate_sql(resolutions: int) -> str:
    return _AGGREGATE_SQL.format(
        weight=WEIGHT_SQL,
        **{
            step: ", ".join(template.format(k=k) for k in range(resolutions))
            for step, template in _STEPS.items()
        },
    )


BANDS = ("day", "evening", "night", "unknown")


def _row_type(resolutions: int) -> np.dtype:
    """One row of the binary COPY: a field count, then (length, value) for each column."""
    return np.dtype(
        [("fields", ">i2")]
        + [(f"cell_{k}", [("length", ">i4"), ("value", ">i8")]) for k in range(resolutions)]
        + [
            ("attributes", [("length", ">i4"), ("value", ">i4")]),
            ("area", [("length", ">i4"), ("value", ">i4")]),
            ("weight", [("length", ">i4"), ("value", ">f8")]),
        ]
    )


_HEADER = 19  # signature (11), flags (4), header extension length (4, always 0 here)


@dataclass(frozen=True)
class Slice:
    """Which reports go in: any of some reasons, one time band, a date window.

    The window is on when the report was felt (when it was received where the reporter
    did not say), from ``since`` up to but not including ``until``.
    """

    reasons: tuple[str, ...] = ()
    band: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        unknown = sorted(set(self.reasons) - set(REASON_CODES))
        if unknown:
            raise ValueError(f"Unknown reason: {', '.join(unknown)}.")
        if self.band is not None and self.band not in BANDS:
            raise ValueError(f"Unknown time band {self.band!r}: one of {', '.join(BANDS)}.")
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError("The date window's start must come before its end.")

    @property
    def everything(self) -> bool:
        return not self.reasons and self.band is None and self.since is None and self.until is None

    @property
    def reason_mask(self) -> int:
        return sum(1 << REASON_CODES.index(code) for code in set(self.reasons))

    @property
    def key(self) -> str:
        """A canonical text of the filter: equal for equal filters."""
        return "reasons={};band={};since={};until={}".format(
            ",".join(sorted(set(self.reasons))),
            self.band or "",
            self.since.astimezone(UTC).isoformat() if self.since else "",
            self.until.astimezone(UTC).isoformat() if self.until else "",
        )


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


def _read_reports(connection: BaseDatabaseWrapper, sql: str, row: np.dtype) -> np.ndarray:
    buffer = io.BytesIO()
    with connection.cursor() as cursor:
        cursor.execute("SET jit = off")
        cursor.copy_expert(f"COPY ({sql}) TO STDOUT WITH (FORMAT binary)", buffer)
    raw = buffer.getbuffer()
    body = raw[_HEADER : len(raw) - 2]  # the trailer is a field count of -1
    return np.frombuffer(body, dtype=row)


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
    params: dict[str, Any] = {
        **weight_parameters(now),
        "reason_mask": selection.reason_mask,
        "since": selection.since,
        "until": selection.until,
        "band": BANDS.index(selection.band) if selection.band else -1,
    }
    for k, grid in enumerate(grids):
        params[f"w_{k}"] = 1.5 * grid.size
        params[f"h_{k}"] = SQRT3 * grid.size
    template = _aggregate_sql(len(grids))
    row = _row_type(len(grids))
    ranges = _page_ranges(parallel)

    def read(bounds: tuple[int, int], own: BaseDatabaseWrapper) -> np.ndarray:
        with own.cursor() as cursor:
            sql = cursor.mogrify(
                template,
                {**params, "first_tid": f"({bounds[0]},0)", "end_tid": f"({bounds[1]},0)"},
            ).decode()
        return _read_reports(own, sql, row)

    if len(ranges) == 1:
        reports = read(ranges[0], connection)
    else:
        with ThreadPoolExecutor(max_workers=len(ranges)) as pool:
            parts = list(
                pool.map(
                    lambda bounds: _in_new_connection(partial(read, bounds)),
                    ranges,
                )
            )
        reports = np.concatenate(parts)
    attributes = reports["attributes"]["value"].astype(np.int64)
    area = reports["area"]["value"].astype(np.int64)
    weight = reports["weight"]["value"].astype(np.float64)
    return {
        grid.resolution: _sum_cells(
            reports[f"cell_{k}"]["value"].astype(np.int64),
            attributes,
            area,
            weight,
            by_month=grid.resolution == monthly_resolution,
        )
        for k, grid in enumerate(grids)
    }


def _sum_cells(
    keys: np.ndarray,
    attributes: np.ndarray,
    area: np.ndarray,
    weight: np.ndarray,
    *,
    by_month: bool,
) -> Cells:
    """Sums one resolution's reports, given each one's cell key, per cell."""
    bits = attributes & 0x3FF
    band = (attributes >> 10) & 3
    safe = ((attributes >> 12) & 1).astype(bool)
    unsafe = ~safe

    unique, cell = np.unique(keys, return_inverse=True)
    count = len(unique)

    def per_cell(selected: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(
            cell[selected],
            weights=None if weights is None else weights[selected],
            minlength=count,
        )

    reasons = np.zeros((count, len(REASON_CODES)), dtype=np.int64)
    for bit in range(len(REASON_CODES)):
        reasons[:, bit] = per_cell(unsafe & (((bits >> bit) & 1) == 1))
    bands = np.zeros((count, len(BANDS)), dtype=np.int64)
    for index in range(len(BANDS)):
        bands[:, index] = per_cell(unsafe & (band == index))

    # The cell's area: the one most of its reports fell in.
    span = int(area.max()) + 1 if len(area) else 1
    pairs, pair_reports = np.unique(cell * span + area, return_counts=True)
    pair_cell, pair_area = pairs // span, pairs % span
    order = np.lexsort((-pair_reports, pair_cell))
    first = np.ones(len(order), dtype=bool)
    first[1:] = pair_cell[order][1:] != pair_cell[order][:-1]
    cell_area = np.zeros(count, dtype=np.int64)
    cell_area[pair_cell[order][first]] = pair_area[order][first]

    monthly = None
    months = np.zeros(0, dtype=np.int64)
    if by_month and len(keys):
        month = attributes >> 13
        months = np.arange(month.min(), month.max() + 1)
        monthly = np.bincount(
            cell[unsafe] * len(months) + (month[unsafe] - months[0]),
            minlength=count * len(months),
        ).reshape(count, len(months))

    return Cells(
        i=unique >> 32,
        j=((unique & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000,
        unsafe=per_cell(unsafe),
        safe=per_cell(safe),
        reasons=reasons,
        bands=bands,
        score=per_cell(unsafe, weight),
        area=cell_area,
        monthly=monthly,
        months=months,
    )
