"""Where a budget for new lights or cameras does the most good: the budgeted choice of sites.

Demand is the weighted score of the unsafe reports whose reasons call for the intervention
and that no working asset covers yet (``geo.coverage``: the one rule the coverage-gap layer
uses too). Candidate sites are the centres of the finest hotspot hexagons holding that
demand, the ones holding the most, and for cameras also existing lamp columns (a camera is
often mounted on one) within reach of it. A site covers the demand within ``radius`` of it.

The choice is the budgeted maximum coverage problem, solved greedily: take the site that
newly covers the most demand, then the next, until the money or the demand runs out. A
report covered by two chosen sites counts once. The gains are evaluated lazily (CELF): a
site's gain can only shrink as others are chosen, so a stale gain is an upper bound and
most sites are never looked at again. Greedy is within 1 - 1/e of the optimum in theory;
at the coverage radii it matched the optimum on real data, but with a radius of 100 m and
more it fell up to 6% short, so exchanges of one chosen site for another follow while they
cover more (``tests/geo/test_priorities.py`` checks the result against the exact optimum of
the integer programme). The sites are then ranked as greedy ranks them: each by what it
adds to those before it.

Who does what: PostgreSQL reads the reports once, keeping those that are uncovered demand in
scope (the coverage rule's anti-join: the working assets hashed by the cells of a grid, and
each report looked up in its cell, ``geo.coverage``) with their weights, and sends them as
binary COPY straight into numpy. Which reports each candidate covers is then
found in a k-d tree over those points, and the greedy runs over compact index arrays:
Python never loops over reports. (The same pairs from a PostGIS join over the reports' GiST
index took 4.4 s for 5,000 lighting candidates and 16.6 s for 10,000 camera candidates on
the benchmark's million reports, against tenths of a second here: ``bench.priorities``
prints both.)

A planner's question is a ``PriorityRun``: answered in the request when the scope is small,
by a Celery worker otherwise, and reused while the reports, the assets and the settings it
was answered with are unchanged.
"""

import csv
import datetime as dt
import hashlib
import heapq
import io
import json
import logging
import math
import shutil
import tempfile
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.exceptions import ValidationError
from scipy.spatial import cKDTree

from geo.access import PlannerScope, organisation_area_ids_cached, planner_organisation
from geo.assets import assets_version
from geo.coverage import (
    Need,
    coverage_radius,
    demand_mask,
    demand_reasons,
    uncovered_demand_sql,
)
from geo.exports import ExportFailed, LayerSpec, _csv_cell, _ogr2ogr
from geo.hotspots.grid import SQRT3
from geo.hotspots.weights import WEIGHT_SQL, weight_parameters
from geo.jobs import JobFailed, job_enqueue, job_ready, job_running, job_start
from geo.models import Area, HotspotGeneration, PriorityRun
from reports.reasons import REASON_CODES

logger = logging.getLogger(__name__)

CELL = "cell"
LAMP_COLUMN = "lamp_column"
# The radius a planner may ask for, in metres: closer than 5 m no site is placed that
# precisely, and beyond 500 m a light or camera covers nothing of use.
RADIUS_RANGE = (5, 500)
# Decimal places of coordinates in the answers: about a centimetre.
COORDINATE_DECIMALS = 7
# A question's key changes when this does: bump it when the way answers are made changes.
KEY_VERSION = 1
# How much work the exchanges after the greedy choice may do, in (candidate, report) pairs
# visited: on a whole force with a million reports, two rounds (about 0.4 s).
SWAP_WORK = 5_000_000

Progress = Callable[[float], None]


# --------------------------------------------------------------------------------------
# The answer
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Site:
    """One chosen site, in the order chosen; ``total_*`` and ``share`` run up to it."""

    rank: int
    longitude: float
    latitude: float
    source: str  # CELL (a hexagon's centre) or LAMP_COLUMN (an existing column)
    # The weighted demand it newly covers, and how many reports that is.
    gain: float
    reports: int
    # Reason code -> newly covered weight, largest first. A report giving two of the
    # intervention's reasons counts under each, so these may add up to more than ``gain``.
    reasons: dict[str, float]
    cost: float
    total_cost: float
    total_gain: float
    # The share of all uncovered demand in scope covered by this site and those before it.
    share: float


@dataclass(frozen=True)
class Priorities:
    """The chosen sites for one question, with the totals that justify them."""

    need: Need
    budget: float
    unit_cost: float
    radius: int
    area_code: str | None
    # All uncovered weighted demand in scope, and what the chosen sites cover of it.
    demand_total: float
    demand_covered: float
    share_covered: float
    cost_total: float
    # Candidates that would cover any demand at all.
    candidate_count: int
    sites: list[Site]
    # Uncovered demand reports in scope, and how many of them the chosen sites cover.
    demand_reports: int = 0
    reports_covered: int = 0


# --------------------------------------------------------------------------------------
# The instance: candidates and the demand each would cover
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidates:
    """The choice to make: candidate sites and the uncovered demand reports each covers.

    Candidate ``c`` covers the reports ``members[starts[c]:starts[c + 1]]``, indexes into
    ``weights`` and ``bits`` (the report's reasons that call for the intervention, as
    ``reason_bits``): every uncovered demand report in scope, covered by a candidate or not.
    """

    x: np.ndarray  # ANALYSIS_SRID
    y: np.ndarray
    lamp: np.ndarray  # True for an existing lamp column, False for a cell's centre
    starts: np.ndarray
    members: np.ndarray
    weights: np.ndarray
    bits: np.ndarray

    def __len__(self) -> int:
        return len(self.x)

    @property
    def demand_total(self) -> float:
        return float(self.weights.sum())

    @property
    def demand_reports(self) -> int:
        return len(self.weights)

    def covers(self, candidate: int) -> np.ndarray:
        return self.members[self.starts[candidate] : self.starts[candidate + 1]]

    def gains(self) -> np.ndarray:
        """Each candidate's gain with nothing chosen yet."""
        return _Reach(self.starts, self.members).sums(self.weights)


# Every uncovered demand report in scope, as binary COPY: x, y, weight and its reasons.
_DEMAND_SQL = """
SELECT
    ST_X(r.location_projected),
    ST_Y(r.location_projected),
    ({weight})::float8,
    (r.reason_bits & %(demand_mask)s)::int4
FROM reports_report r
WHERE r.area_id = ANY(%(area_ids)s::bigint[]) AND {uncovered}
"""
_DEMAND_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("x", [("length", ">i4"), ("value", ">f8")]),
        ("y", [("length", ">i4"), ("value", ">f8")]),
        ("weight", [("length", ">i4"), ("value", ">f8")]),
        ("bits", [("length", ">i4"), ("value", ">i4")]),
    ]
)

# Lamp columns, working or not (a camera needs the column, not its lamp), in a box: the
# GiST index on location_projected.
_LAMPS_SQL = """
SELECT ST_X(a.location_projected), ST_Y(a.location_projected)
FROM geo_streetlight a
WHERE a.location_projected && ST_MakeEnvelope(%(xmin)s, %(ymin)s, %(xmax)s, %(ymax)s, %(srid)s)
"""
_POINT_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("x", [("length", ">i4"), ("value", ">f8")]),
        ("y", [("length", ">i4"), ("value", ">f8")]),
    ]
)
_COPY_HEADER = 19  # signature (11), flags (4), header extension length (4, always 0)

_UNCOVERED_COUNT_SQL = """
SELECT count(*) FROM (
    SELECT 1 FROM reports_report r
    WHERE r.area_id = ANY(%(area_ids)s::bigint[]) AND {uncovered}
    LIMIT %(limit)s
) found
"""


def _copy_out(sql: str, params: dict[str, Any], row: np.dtype) -> np.ndarray:
    """The rows of ``sql`` as a structured array, through binary COPY (no NULLs allowed)."""
    buffer = io.BytesIO()
    with connection.cursor() as cursor:
        query = cursor.mogrify(sql, params).decode()
        cursor.copy_expert(f"COPY ({query}) TO STDOUT WITH (FORMAT binary)", buffer)
    raw = buffer.getbuffer()
    return np.frombuffer(raw[_COPY_HEADER : len(raw) - 2], dtype=row)


def _scope_list(area_ids: Collection[int]) -> list[int]:
    return sorted(int(area_id) for area_id in area_ids)


def uncovered_demand_count(*, need: Need, area_ids: Collection[int], limit: int) -> int:
    """How many uncovered demand reports the areas hold, counting no further than ``limit``.

    Stops at ``limit``: deciding whether a question is small costs no more than a small
    question's answer.
    """
    uncovered, params = uncovered_demand_sql(need)
    with connection.cursor() as cursor:
        cursor.execute(
            _UNCOVERED_COUNT_SQL.format(uncovered=uncovered),
            {**params, "area_ids": _scope_list(area_ids), "limit": limit},
        )
        return int(cursor.fetchone()[0])


def hexagon_cells(x: np.ndarray, y: np.ndarray, size: float) -> tuple[np.ndarray, np.ndarray]:
    """(i, j) of the PostGIS hexagon (``ST_Hexagon(size, i, j)``) holding each point.

    The nearest centre, found among the nearest in the two columns either side of the
    point (``geo.hotspots.grid``); centres of column i lie at x = 1.5 size i, y = sqrt(3)
    size (j + (i mod 2) / 2).
    """
    width, height = 1.5 * size, SQRT3 * size
    left = np.floor(x / width).astype(np.int64)
    right = left + 1

    def nearest_in(column: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        shift = 0.5 * (column & 1)
        row = np.round(y / height - shift).astype(np.int64)
        return row, (x - width * column) ** 2 + (y - height * (row + shift)) ** 2

    left_row, left_distance = nearest_in(left)
    right_row, right_distance = nearest_in(right)
    nearer_right = right_distance < left_distance
    return np.where(nearer_right, right, left), np.where(nearer_right, right_row, left_row)


def hexagon_centres(i: np.ndarray, j: np.ndarray, size: float) -> tuple[np.ndarray, np.ndarray]:
    return 1.5 * size * i, SQRT3 * size * (j + 0.5 * (i & 1))


@dataclass(frozen=True)
class _Reach:
    """What each of some points reaches: ``members[starts[k]:starts[k + 1]]`` for point k."""

    starts: np.ndarray
    members: np.ndarray

    def sums(self, weights: np.ndarray) -> np.ndarray:
        totals = np.concatenate([[0.0], np.cumsum(weights[self.members])])
        return totals[self.starts[1:]] - totals[self.starts[:-1]]

    def select(self, which: np.ndarray) -> "_Reach":
        """The points ``which``, in that order."""
        lengths = self.starts[which + 1] - self.starts[which]
        starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        # Position k of the new members comes from the old start of its point plus k less
        # the new start of its point.
        offsets = np.arange(starts[-1]) - np.repeat(starts[:-1] - self.starts[which], lengths)
        return _Reach(starts, self.members[offsets])

    @staticmethod
    def join(parts: list["_Reach"]) -> "_Reach":
        lengths = np.concatenate([np.diff(part.starts) for part in parts])
        return _Reach(
            np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            np.concatenate([part.members for part in parts]),
        )


def _pairs(
    tree: cKDTree, x: np.ndarray, y: np.ndarray, radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """Every (point, tree index) with the tree's point within ``radius`` of the point (x, y)
    (distance at most ``radius``, as ``ST_DWithin``), as two arrays: no list per point."""
    if len(x) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    pairs = cKDTree(np.column_stack([x, y])).sparse_distance_matrix(
        tree, radius, output_type="ndarray"
    )
    return pairs["i"].astype(np.int64), pairs["j"].astype(np.int64)


def _grouped(point: np.ndarray, member: np.ndarray, points: int) -> _Reach:
    """Pairs grouped by point, each point's members in the order the pairs came."""
    # A stable sort of small integers is a radix sort: linear in the pairs.
    key = point.astype(np.int16) if points < 2**15 else point
    order = np.argsort(key, kind="stable")
    counts = np.bincount(point, minlength=points)
    return _Reach(np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), member[order])


def priorities_candidates(
    *,
    need: Need,
    radius: int,
    area_ids: Collection[int],
    now: datetime | None = None,
    progress: Progress | None = None,
) -> Candidates:
    """The candidate sites for ``need`` in the areas, and what each would cover."""
    now = now or timezone.now()
    report = progress or (lambda fraction: None)
    uncovered, params = uncovered_demand_sql(need)
    demand = _copy_out(
        _DEMAND_SQL.format(weight=WEIGHT_SQL, uncovered=uncovered),
        {
            **params,
            **weight_parameters(now),
            "demand_mask": demand_mask(need),
            "area_ids": _scope_list(area_ids),
        },
        _DEMAND_ROW,
    )
    x = demand["x"]["value"].astype(np.float64)
    y = demand["y"]["value"].astype(np.float64)
    weights = demand["weight"]["value"].astype(np.float64)
    bits = demand["bits"]["value"].astype(np.int32)
    report(0.6)
    if len(weights) == 0:
        nothing = np.zeros(0)
        return Candidates(
            x=nothing,
            y=nothing,
            lamp=np.zeros(0, dtype=bool),
            starts=np.zeros(1, dtype=np.int64),
            members=np.zeros(0, dtype=np.int64),
            weights=nothing,
            bits=np.zeros(0, dtype=np.int32),
        )

    # The cells of the finest grid holding the most uncovered demand.
    size = min(settings.HOTSPOT_RESOLUTIONS) / 2.0
    cell_i, cell_j = hexagon_cells(x, y, size)
    keys, inverse = np.unique((cell_i << 32) | (cell_j & 0xFFFFFFFF), return_inverse=True)
    cell_weights = np.bincount(inverse, weights=weights, minlength=len(keys))
    cap = settings.PRIORITIES_MAX_CANDIDATES
    # Most demand first; equal demand in key order, so that the choice is repeatable.
    top = np.lexsort((keys, -cell_weights))[:cap]
    top_i = keys[top] >> 32
    top_j = ((keys[top] & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000  # back to signed
    centre_x, centre_y = hexagon_centres(top_i, top_j, size)

    # Unbalanced: built in three quarters of the time, queried as fast here.
    tree = cKDTree(np.column_stack([x, y]), balanced_tree=False)
    cell, reached = _pairs(tree, centre_x, centre_y, radius)
    reach = [_grouped(cell, reached, points=len(centre_x))]
    candidate_x, candidate_y = [centre_x], [centre_y]
    lamp = [np.zeros(len(centre_x), dtype=bool)]
    if need is Need.CCTV:
        lamps = _copy_out(
            _LAMPS_SQL,
            {
                "xmin": float(x.min()) - radius,
                "ymin": float(y.min()) - radius,
                "xmax": float(x.max()) + radius,
                "ymax": float(y.max()) + radius,
                "srid": settings.ANALYSIS_SRID,
            },
            _POINT_ROW,
        )
        lamp_x = lamps["x"]["value"].astype(np.float64)
        lamp_y = lamps["y"]["value"].astype(np.float64)
        column, reached = _pairs(tree, lamp_x, lamp_y, radius)
        lamp_gain = np.bincount(column, weights=weights[reached], minlength=len(lamp_x))
        # The columns within reach of the most demand, as many as cells at most.
        within = np.nonzero(lamp_gain > 0)[0]
        best = within[np.lexsort((within, -lamp_gain[within]))][:cap]
        renumbered = np.full(len(lamp_x), -1, dtype=np.int64)
        renumbered[best] = np.arange(len(best))
        chosen = renumbered[column] >= 0
        reach.append(_grouped(renumbered[column[chosen]], reached[chosen], points=len(best)))
        candidate_x.append(lamp_x[best])
        candidate_y.append(lamp_y[best])
        lamp.append(np.ones(len(best), dtype=bool))
    report(0.8)

    # The candidates that cover anything.
    joined = _Reach.join(reach)
    keep = np.nonzero(np.diff(joined.starts) > 0)[0]
    useful = joined.select(keep)
    return Candidates(
        x=np.concatenate(candidate_x)[keep],
        y=np.concatenate(candidate_y)[keep],
        lamp=np.concatenate(lamp)[keep],
        starts=useful.starts,
        members=useful.members,
        weights=weights,
        bits=bits,
    )


# --------------------------------------------------------------------------------------
# The greedy choice
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pick:
    candidate: int
    # The reports it newly covers (indexes into the candidates' weights).
    fresh: np.ndarray
    gain: float


# More sites than any area has candidates: what "as many as you like" comes to.
UNLIMITED_SITES = 10**9


def affordable_sites(budget: float, unit_cost: float) -> int:
    """How many sites the budget pays for; a hair of tolerance for decimal fractions
    (0.3 / 0.1 is 2.9999999999999996 in binary)."""
    sites = budget / unit_cost * (1 + 1e-12)
    return math.floor(sites) if sites < UNLIMITED_SITES else UNLIMITED_SITES


def greedy_choice(
    candidates: Candidates, *, max_sites: int, among: Collection[int] | None = None
) -> list[Pick]:
    """Up to ``max_sites`` candidates (of ``among``, when given), each the one that newly
    covers the most demand.

    Lazy (CELF): the heap holds each candidate's gain as last worked out, an upper bound
    of its gain now. The top one is taken only when its gain was worked out after the last
    choice; otherwise it is worked out again and put back. Ties go to the lower index, so
    the choice is the plain greedy one, repeatably.
    """
    covered = np.zeros(len(candidates.weights), dtype=bool)
    weights = candidates.weights
    allowed = range(len(candidates)) if among is None else sorted(among)
    # (-gain, candidate, the number of sites chosen when the gain was worked out). Each
    # gain is summed as it is when worked out again, so that equal sets of reports have
    # equal gains to the last bit and ties go as in the plain greedy.
    heap = [(-float(weights[candidates.covers(c)].sum()), int(c), 0) for c in allowed]
    heap = [entry for entry in heap if entry[0] < 0]
    heapq.heapify(heap)
    chosen: list[Pick] = []
    while heap and len(chosen) < max_sites:
        _, candidate, when = heapq.heappop(heap)
        reach = candidates.covers(candidate)
        fresh = reach[~covered[reach]]
        if when == len(chosen):
            gain = float(weights[fresh].sum())
            covered[fresh] = True
            chosen.append(Pick(candidate=candidate, fresh=fresh, gain=gain))
            continue
        gain = float(weights[fresh].sum())
        if gain > 0:
            heapq.heappush(heap, (-gain, candidate, len(chosen)))
    return chosen


def improve_by_swaps(
    candidates: Candidates, chosen: Collection[int], *, max_swaps: int
) -> list[int]:
    """The chosen sites after exchanging one for another while that covers more demand.

    Greedy can go wrong where sites overlap a lot (a large radius): its first site, the
    best alone, may straddle demand that two others would share better. Each round finds
    the exchange of a chosen site for an unchosen one that adds the most, over every pair
    at once; it stops when none adds anything or after ``max_swaps`` exchanges. The number
    of sites, and so the cost, stays the same.
    """
    count = len(candidates)
    picked = np.zeros(count, dtype=bool)
    picked[list(chosen)] = True
    if not picked.any() or picked.all():
        return sorted(chosen)
    owner = np.repeat(np.arange(count), np.diff(candidates.starts))
    report = candidates.members
    weight = candidates.weights[report]
    times = np.bincount(report[picked[owner]], minlength=len(candidates.weights))
    # Exchanges adding less than this are rounding, not coverage.
    tolerance = 1e-9 * max(float(candidates.weights.sum()), 1e-300)
    for _ in range(max_swaps):
        covered_by = times[report]
        # What each site would newly cover: the reports no chosen site covers.
        new = np.bincount(owner, weights=weight * (covered_by == 0), minlength=count)
        # What each chosen site alone covers: lost when it goes.
        only = picked[owner] & (covered_by == 1)
        loss = np.bincount(owner[only], weights=weight[only], minlength=count)
        sole = np.full(len(candidates.weights), -1, dtype=np.int64)
        sole[report[only]] = owner[only]
        # What an unchosen site keeps of what a chosen one alone covers, by pair.
        keeps = ~picked[owner] & (covered_by == 1)
        pairs, which = np.unique(owner[keeps] * count + sole[report[keeps]], return_inverse=True)
        kept = np.bincount(which.reshape(-1), weights=weight[keeps], minlength=len(pairs))
        incoming, outgoing = pairs // count, pairs % count
        paired = new[incoming] + kept - loss[outgoing]
        # Or out goes the chosen site that loses least, whatever comes in.
        members = np.nonzero(picked)[0]
        cheapest = members[np.argmin(loss[members])]
        others = np.nonzero(~picked)[0]
        unpaired = new[others] - loss[cheapest]
        best_paired = int(np.argmax(paired)) if len(paired) else -1
        best_unpaired = int(np.argmax(unpaired))
        if best_paired >= 0 and paired[best_paired] >= unpaired[best_unpaired]:
            gain, into, out = paired[best_paired], incoming[best_paired], outgoing[best_paired]
        else:
            gain, into, out = unpaired[best_unpaired], others[best_unpaired], cheapest
        if gain <= tolerance:
            break
        picked[out], picked[into] = False, True
        times[candidates.covers(int(out))] -= 1
        times[candidates.covers(int(into))] += 1
    return np.nonzero(picked)[0].tolist()


def sites_choose(candidates: Candidates, *, max_sites: int) -> list[Pick]:
    """The greedy choice, improved by exchanges, in the order of what each adds.

    The exchanges are bounded by ``SWAP_WORK``: a round costs a pass over every
    (candidate, report) pair, and on a whole force's million reports, where greedy is
    already within a fraction of a percent, a few rounds are all the time allows.
    """
    greedy = greedy_choice(candidates, max_sites=max_sites)
    rounds = SWAP_WORK // max(len(candidates.members), 1)
    better = improve_by_swaps(
        candidates, [pick.candidate for pick in greedy], max_swaps=max(int(rounds), 1)
    )
    if sorted(better) == sorted(pick.candidate for pick in greedy):
        return greedy
    # Ranked as greedy would rank them: each site by what it adds to those before it.
    return greedy_choice(candidates, max_sites=max_sites, among=better)


# --------------------------------------------------------------------------------------
# The service
# --------------------------------------------------------------------------------------


def priorities_choose(
    *,
    need: Need,
    budget: float,
    unit_cost: float,
    radius: int,
    area_ids: Collection[int],
    area_code: str | None = None,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> Priorities:
    """The sites that cover the most uncovered demand for ``need`` within the budget.

    ``area_ids`` is the scope: reports whose local policing area is one of them.
    ``progress`` is called with the share of the work done, 0 to 1.
    """
    report = progress or (lambda fraction: None)
    report(0.0)
    candidates = priorities_candidates(
        need=need, radius=radius, area_ids=area_ids, now=now, progress=report
    )
    picks = sites_choose(candidates, max_sites=affordable_sites(budget, unit_cost))
    report(0.9)
    longitudes, latitudes = _to_wgs84(
        candidates.x[[pick.candidate for pick in picks]],
        candidates.y[[pick.candidate for pick in picks]],
    )
    reason_bits = [
        (code, 1 << REASON_CODES.index(code)) for code in demand_reasons(need)
    ]  # in list order: ties keep it
    demand_total = candidates.demand_total
    sites: list[Site] = []
    total_gain = 0.0
    for rank, pick in enumerate(picks, start=1):
        total_gain += pick.gain
        fresh_weights = candidates.weights[pick.fresh]
        fresh_bits = candidates.bits[pick.fresh]
        by_reason = {
            code: float(fresh_weights[(fresh_bits & bit) != 0].sum()) for code, bit in reason_bits
        }
        sites.append(
            Site(
                rank=rank,
                longitude=longitudes[rank - 1],
                latitude=latitudes[rank - 1],
                source=LAMP_COLUMN if candidates.lamp[pick.candidate] else CELL,
                gain=pick.gain,
                reports=len(pick.fresh),
                reasons=dict(
                    sorted(
                        ((code, weight) for code, weight in by_reason.items() if weight > 0),
                        key=lambda item: -item[1],
                    )
                ),
                cost=unit_cost,
                total_cost=rank * unit_cost,
                total_gain=total_gain,
                share=_share(total_gain, demand_total),
            )
        )
    return Priorities(
        need=need,
        budget=budget,
        unit_cost=unit_cost,
        radius=radius,
        area_code=area_code,
        demand_total=demand_total,
        demand_covered=total_gain,
        share_covered=_share(total_gain, demand_total),
        cost_total=len(sites) * unit_cost,
        candidate_count=len(candidates),
        sites=sites,
        demand_reports=candidates.demand_reports,
        reports_covered=sum(site.reports for site in sites),
    )


def _share(part: float, whole: float) -> float:
    return min(part / whole, 1.0) if whole > 0 else 0.0


def _to_wgs84(x: np.ndarray, y: np.ndarray) -> tuple[list[float], list[float]]:
    """Points of ANALYSIS_SRID as WGS84 longitudes and latitudes, transformed by PostGIS."""
    if len(x) == 0:
        return [], []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_X(p), ST_Y(p) FROM ("
            " SELECT n, ST_Transform(ST_SetSRID(ST_MakePoint(x, y), %(srid)s), 4326) AS p"
            " FROM unnest(%(xs)s::float8[], %(ys)s::float8[]) WITH ORDINALITY AS t (x, y, n)"
            ") points ORDER BY n",
            {"srid": settings.ANALYSIS_SRID, "xs": x.tolist(), "ys": y.tolist()},
        )
        rows = cursor.fetchall()
    return (
        [round(lon, COORDINATE_DECIMALS) for lon, _ in rows],
        [round(lat, COORDINATE_DECIMALS) for _, lat in rows],
    )


def priorities_geojson(p: Priorities) -> dict[str, Any]:
    """The sites as a GeoJSON FeatureCollection of points, with the totals and the
    question as members of the collection."""
    return {
        "type": "FeatureCollection",
        "need": p.need.value,
        "budget": p.budget,
        "unit_cost": p.unit_cost,
        "radius": p.radius,
        "area_code": p.area_code,
        "demand_total": p.demand_total,
        "demand_covered": p.demand_covered,
        "share_covered": p.share_covered,
        "cost_total": p.cost_total,
        "candidate_count": p.candidate_count,
        "site_count": len(p.sites),
        "demand_reports": p.demand_reports,
        "reports_covered": p.reports_covered,
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [site.longitude, site.latitude]},
                "properties": {
                    "rank": site.rank,
                    "longitude": site.longitude,
                    "latitude": site.latitude,
                    "source": site.source,
                    "gain": site.gain,
                    "reports": site.reports,
                    "reasons": site.reasons,
                    "cost": site.cost,
                    "total_cost": site.total_cost,
                    "total_gain": site.total_gain,
                    "share": site.share,
                },
            }
            for site in p.sites
        ],
    }


# --------------------------------------------------------------------------------------
# A planner's question
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Question:
    """What a planner asks: which sites for ``need``, for this money, in this area."""

    need: Need
    budget: float
    unit_cost: float
    radius: int
    # None: everything the planner's organisation covers.
    area: Area | None
    # The areas whose reports count: the scope, or the area and those inside it.
    area_ids: frozenset[int] = field(compare=False)

    @property
    def parameters(self) -> dict[str, Any]:
        """The question as the query parameters that ask it again."""
        return {
            "intervention": self.need.value,
            "budget": self.budget,
            "unit_cost": self.unit_cost,
            "radius": self.radius,
            "area": None if self.area is None else self.area.code,
        }


QUESTION_PARAMS = ("intervention", "budget", "unit_cost", "radius", "area")


def default_unit_cost(need: Need) -> float:
    if need is Need.LIGHTING:
        return float(settings.PRIORITIES_UNIT_COST_LIGHTING)
    return float(settings.PRIORITIES_UNIT_COST_CCTV)


def priority_question(params: Mapping[str, Any], *, area_ids: Collection[int]) -> Question:
    """Reads and checks a question from query parameters (a QueryDict or a plain mapping).

    ``area_ids`` is the planner's scope: an ``area`` outside it reads as unknown. Raises
    ``ValidationError`` naming every faulty parameter.
    """
    errors: dict[str, list[str]] = {}

    def single(name: str) -> str | None:
        if hasattr(params, "getlist"):
            found = [str(v).strip() for v in params.getlist(name)]
        else:
            value = params.get(name)
            found = [] if value is None else [str(value).strip()]
        found = [value for value in found if value != ""]
        if len(found) > 1:
            errors[name] = [f"Give {name} once, not {len(found)} times."]
            return None
        return found[0] if found else None

    choices = ", ".join(need.value for need in Need)
    need = None
    text = single("intervention")
    if text is None:
        errors.setdefault("intervention", [f"Give the intervention: {choices}."])
    elif text not in {n.value for n in Need}:
        errors["intervention"] = [f"{text!r} is not an intervention: {choices}."]
    else:
        need = Need(text)

    def amount(name: str, text: str | None) -> float | None:
        if text is None:
            return None
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value <= 0:
            errors[name] = [f"{text!r} is not an amount: give a number of pounds above 0."]
            return None
        return value

    budget_text = single("budget")
    budget = amount("budget", budget_text)
    if budget_text is None:
        errors.setdefault("budget", ["Give the budget, in pounds."])
    unit_cost = amount("unit_cost", single("unit_cost"))
    if unit_cost is None and need is not None and "unit_cost" not in errors:
        unit_cost = default_unit_cost(need)
    if budget is not None and unit_cost is not None and affordable_sites(budget, unit_cost) < 1:
        errors["budget"] = [
            f"A budget of {budget:g} buys no site at {unit_cost:g} each: raise it, or lower "
            "unit_cost."
        ]

    radius = None
    if (text := single("radius")) is not None:
        low, high = RADIUS_RANGE
        try:
            radius = int(text)
        except ValueError:
            radius = None
        if radius is None or not low <= radius <= high:
            errors["radius"] = [
                f"{text!r} is not a radius: a whole number of metres, {low}-{high}."
            ]
            radius = None
    elif need is not None:
        radius = coverage_radius(need)

    area = None
    scope = frozenset(area_ids)
    if (code := single("area")) is not None:
        area = Area.objects.filter(code=code).first()
        if area is None or area.pk not in scope:
            errors["area"] = [f"No area with the code {code!r} that you can see."]
            area = None

    if errors:
        raise ValidationError(errors)
    assert need is not None and budget is not None and unit_cost is not None
    assert radius is not None
    return Question(
        need=need,
        budget=budget,
        unit_cost=unit_cost,
        radius=radius,
        area=area,
        area_ids=scope if area is None else _areas_within(area, scope),
    )


def _areas_within(area: Area, scope: frozenset[int]) -> frozenset[int]:
    """The area and the areas of the scope inside it (its children, theirs, ...)."""
    found = {area.pk}
    frontier = {area.pk}
    while frontier:
        frontier = set(
            Area.objects.filter(parent_id__in=frontier, pk__in=scope)
            .exclude(pk__in=found)
            .values_list("pk", flat=True)
        )
        found |= frontier
    return frozenset(found)


def priority_key(question: Question, scope: PlannerScope) -> str:
    """Equal for questions with the same answer: the question, the scope, and the version
    of everything the answer is made from (the live hotspot generation, which moves on
    after new reports; the assets; the settings of the rule)."""
    generation = (
        HotspotGeneration.objects.filter(status=HotspotGeneration.Status.LIVE)
        .values_list("pk", flat=True)
        .first()
    )
    text = json.dumps(
        {
            "version": KEY_VERSION,
            "question": question.parameters,
            "scope": scope.key,
            "generation": generation,
            "assets": assets_version(),
            "rule": [
                settings.LIGHT_RADIUS_M,
                settings.CAMERA_RADIUS_M,
                settings.PRIORITIES_MAX_CANDIDATES,
                min(settings.HOTSPOT_RESOLUTIONS),
                list(settings.HOTSPOT_SEVERITY_WEIGHTS),
                settings.HOTSPOT_HALF_LIFE_DAYS,
            ],
        },
        sort_keys=True,
    )
    return "priorities:" + hashlib.sha256(text.encode()).hexdigest()


class RunFailed(JobFailed):
    """A run that cannot be answered; its message is shown to the planner."""


def priority_ask(*, user: User, scope: PlannerScope, question: Question) -> PriorityRun:
    """Answers a planner's question: from an earlier run of the same question, now when
    its scope is small, or by a worker.

    Returns the planner's run: ready (answered now or reused), queued (sent to a worker)
    or failed (neither was possible).
    """
    key = priority_key(question, scope)
    ready = PriorityRun.objects.filter(
        organisation=scope.organisation, key=key, status=PriorityRun.Status.READY
    ).order_by("-finished_at", "-pk")
    own = ready.filter(user=user).first()
    if own is not None:
        logger.info("priorities %s reused for %s", own.pk, user.get_username())
        return own
    pending = _pending_run(user=user, scope=scope, key=key)
    if pending is not None:
        logger.info("priorities %s still pending for %s", pending.pk, user.get_username())
        return pending
    run = PriorityRun(
        user=user,
        organisation=scope.organisation,
        parameters=question.parameters,
        key=key,
    )
    earlier = ready.first()
    if earlier is not None:
        # A colleague asked the same: their answer, recorded as this planner's own.
        now = timezone.now()
        run.status = PriorityRun.Status.READY
        run.progress = 1.0
        run.result = earlier.result
        run.started_at = run.finished_at = now
        run.save()
        logger.info("priorities %s: %s reused %s", run.pk, user.get_username(), earlier.pk)
        return run
    run.save()
    logger.info("priorities %s: %s asked %s", run.pk, user.get_username(), run.parameters)
    small = uncovered_demand_count(
        need=question.need,
        area_ids=question.area_ids,
        limit=settings.PRIORITIES_INLINE_REPORTS + 1,
    )
    if small <= settings.PRIORITIES_INLINE_REPORTS:
        return priority_run(run_id=run.pk)
    transaction.on_commit(lambda: _enqueue(run))
    return run


# A planner who asks again while their run waits for a worker (a reload, a second click) is
# given that run, not a second one. Only a recent one: a run queued longer ago than this has
# most likely lost its message (Redis emptied, a worker gone), and asking again is how the
# planner gets a new one sent; a whole force's answer takes seconds.
PENDING_REUSE_SECONDS = 300


def _pending_run(*, user: User, scope: PlannerScope, key: str) -> PriorityRun | None:
    """The planner's own run of this question, queued or running, asked recently."""
    since = timezone.now() - dt.timedelta(seconds=PENDING_REUSE_SECONDS)
    return (
        PriorityRun.objects.filter(
            user=user,
            organisation=scope.organisation,
            key=key,
            status__in=[PriorityRun.Status.QUEUED, PriorityRun.Status.RUNNING],
            created_at__gte=since,
        )
        .order_by("-pk")
        .first()
    )


def _enqueue(run: PriorityRun) -> None:
    from geo.tasks import priority_run_task

    job_enqueue(
        run,
        priority_run_task,
        queue=settings.PRIORITIES_QUEUE,
        unavailable="The question could not be queued just now: ask again shortly.",
    )


def priority_run(*, run_id: int) -> PriorityRun:
    """Answers a queued run; returns it, ready or failed.

    Safe to run twice: a ready or failed run is returned as it is, and one cut short (a
    worker lost) starts again. The scope is the one the run's planner has now, and must
    still be that of the organisation it was asked for.
    """
    run = PriorityRun.objects.select_related("user").get(pk=run_id)
    if run.status not in (PriorityRun.Status.QUEUED, PriorityRun.Status.RUNNING):
        return run
    with job_running(
        run, unexpected="The question could not be answered: ask again, or tell support."
    ):
        question = _current_question(run)
        job_start(run)
        answer = priorities_choose(
            need=question.need,
            budget=question.budget,
            unit_cost=question.unit_cost,
            radius=question.radius,
            area_ids=question.area_ids,
            area_code=None if question.area is None else question.area.code,
            progress=_progress_writer(run),
        )
        run.result = priorities_geojson(answer)
        job_ready(run, "result")
        logger.info(
            "priorities %s ready: %s sites, %.1f%% of the demand",
            run.pk,
            len(answer.sites),
            100 * answer.share_covered,
        )
    return run


def _current_question(run: PriorityRun) -> Question:
    organisation = planner_organisation(run.user)
    if organisation is None:
        raise RunFailed("Whoever asked this question is no longer a planner.")
    if organisation.pk != run.organisation_id:
        raise RunFailed("You now work for another organisation than when you asked: ask again.")
    try:
        return priority_question(
            run.parameters, area_ids=organisation_area_ids_cached(organisation=organisation)
        )
    except ValidationError as error:
        raise RunFailed(
            "The question no longer fits what your organisation covers: ask again."
        ) from error


def _progress_writer(run: PriorityRun) -> Progress:
    """Writes a run's progress as it moves on by a step of at least 5%."""

    def write(fraction: float) -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        if fraction - run.progress >= 0.05:
            run.progress = fraction
            run.save(update_fields=["progress"])

    return write


# --------------------------------------------------------------------------------------
# The answer as files
# --------------------------------------------------------------------------------------

FORMATS = ("geojson", "csv", "gpkg")


def site_columns(need: str) -> tuple[tuple[str, str], ...]:
    """The attribute columns of a site, with their GDAL types: one per reason that makes
    a report demand for the intervention."""
    return (
        ("rank", "Integer"),
        ("source", "String"),
        ("gain", "Real"),
        ("reports", "Integer"),
        *((f"reason_{code}", "Real") for code in demand_reasons(Need(need))),
        ("cost", "Real"),
        ("total_cost", "Real"),
        ("total_gain", "Real"),
        ("share", "Real"),
    )


def _site_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for feature in result["features"]:
        properties = feature["properties"]
        row = {name: properties.get(name) for name, _ in site_columns(result["need"])}
        for code in demand_reasons(Need(result["need"])):
            row[f"reason_{code}"] = properties["reasons"].get(code, 0.0)
        row["lon"], row["lat"] = feature["geometry"]["coordinates"]
        rows.append(row)
    return rows


def priorities_csv(result: dict[str, Any], *, for_spreadsheets: bool = True) -> str:
    """The sites of an answer (``priorities_geojson``), one row each, with a header."""
    columns = site_columns(result["need"])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    longitude, latitude = ("longitude", "latitude") if for_spreadsheets else ("lon", "lat")
    writer.writerow([name for name, _ in columns] + [longitude, latitude])
    for row in _site_rows(result):
        writer.writerow(
            [_csv_cell(row[name], for_spreadsheets) for name, _ in columns]
            + [repr(row["lon"]), repr(row["lat"])]
        )
    return out.getvalue()


def priorities_gpkg(result: dict[str, Any]) -> bytes:
    """The sites of an answer as a GeoPackage layer ``priorities`` (EPSG:4326), written by
    GDAL as the exports are. Raises ``RunFailed`` when GDAL cannot write it."""
    columns = site_columns(result["need"])
    spec = LayerSpec(
        params=(),
        geometry="Point",
        fields=columns,
        rows=_no_rows,  # the GDAL step reads the geometry kind and the columns only
        properties=dict,
    )
    work = Path(tempfile.mkdtemp(prefix="priorities-"))
    try:
        source = work / "priorities.csv"
        source.write_text(priorities_csv(result, for_spreadsheets=False), encoding="utf-8")
        (work / "priorities.csvt").write_text(
            ",".join(f'"{kind}"' for _, kind in (*columns, *spec.geometry_columns)) + "\n",
            encoding="utf-8",
        )
        target = work / "priorities.gpkg"
        try:
            _ogr2ogr(source, target, spec, layer="priorities")
        except ExportFailed as error:
            raise RunFailed(str(error)) from error
        return target.read_bytes()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _no_rows(*args: Any) -> Any:
    raise AssertionError("a priorities layer has no query")
