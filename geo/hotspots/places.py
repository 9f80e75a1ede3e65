"""Places: DBSCAN clusters of unsafe reports (``ST_ClusterDBSCAN``), in parts that run
side by side.

DBSCAN is one statement, and PostgreSQL runs a statement on one core. The unsafe reports
are therefore split into parts no two of which hold reports within ``PLACES_EPS_M`` of
each other, and each part is clustered by a statement of its own: the clusters are
exactly those of one DBSCAN over all the reports, since a report's neighbourhood, and so
whether it is a core point and which cluster it joins, lies wholly within its part.

The split: square cells ``eps`` wide, each holding some reports. Two reports within
``eps`` of each other lie in the same cell or in two cells that touch (at an edge or a
corner), so the connected groups of touching cells that hold reports can be clustered
apart. The groups are dealt to the parts largest first, each to the part with the fewest
reports so far.
"""

from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db.backends.base.base import BaseDatabaseWrapper
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from geo.hotspots.weights import WEIGHT_SQL, weight_parameters
from reports.reasons import REASON_CODES

_PLACES_SQL = (
    (Path(__file__).parent / "sql" / "places.sql")
    .read_text()
    .format(
        weight=WEIGHT_SQL,
        reason_sums=", ".join(f"sum((bits >> {bit}) & 1)::int" for bit in range(len(REASON_CODES))),
    )
)

# A cell's key: its column in the high 32 bits, its row in the low ones (as in places.sql).
_CELLS_SQL = """
SELECT floor(ST_X(location_projected) / %(eps)s)::int8 << 32
       | (floor(ST_Y(location_projected) / %(eps)s)::int8 & 4294967295) AS cell,
       count(*)
FROM reports_report
WHERE feeling = 'unsafe'
GROUP BY 1
"""

_TOUCHING = [(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1) if (dx, dy) > (0, 0)]


def place_parts(connection: BaseDatabaseWrapper, parts: int) -> list[np.ndarray]:
    """The cells (keys as in places.sql) of each of ``parts`` parts; none is empty."""
    with connection.cursor() as cursor:
        cursor.execute(_CELLS_SQL, {"eps": float(settings.PLACES_EPS_M)})
        rows = cursor.fetchall()
    if not rows:
        return []
    keys = np.array([row[0] for row in rows], dtype=np.int64)
    counts = np.array([row[1] for row in rows], dtype=np.int64)
    order = np.argsort(keys)
    keys, counts = keys[order], counts[order]
    column = keys >> 32
    row = ((keys & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000

    # Edges between touching cells that both hold reports.
    starts, ends = [], []
    for dx, dy in _TOUCHING:
        neighbour = ((column + dx) << 32) | ((row + dy) & 0xFFFFFFFF)
        at = np.minimum(np.searchsorted(keys, neighbour), len(keys) - 1)
        found = keys[at] == neighbour
        starts.append(np.flatnonzero(found))
        ends.append(at[found])
    start, end = np.concatenate(starts), np.concatenate(ends)
    graph = sparse.coo_matrix(
        (np.ones(len(start), dtype=np.int8), (start, end)), shape=(len(keys), len(keys))
    )
    _, group = connected_components(graph, directed=False)

    group_reports = np.bincount(group, weights=counts)
    load = np.zeros(parts)
    part_of_group = np.zeros(len(group_reports), dtype=np.int64)
    for index in np.argsort(-group_reports, kind="stable"):
        lightest = int(np.argmin(load))
        part_of_group[index] = lightest
        load[lightest] += group_reports[index]
    part = part_of_group[group]
    return [keys[part == k] for k in range(parts) if (part == k).any()]


def places_write(
    connection: BaseDatabaseWrapper, generation_id: int, now: datetime, cells: np.ndarray
) -> int:
    """Clusters the unsafe reports in ``cells`` and writes their places; returns how many."""
    params: dict[str, Any] = {
        **weight_parameters(now),
        "generation": generation_id,
        "eps": float(settings.PLACES_EPS_M),
        "min_points": settings.PLACES_MIN_POINTS,
        "cells": cells.tolist(),
        "srid": settings.ANALYSIS_SRID,
        "reason_codes": list(REASON_CODES),
    }
    with connection.cursor() as cursor:
        cursor.execute("SET jit = off")
        cursor.execute("SET work_mem = '256MB'")
        cursor.execute(_PLACES_SQL, params)
        return int(cursor.rowcount)
