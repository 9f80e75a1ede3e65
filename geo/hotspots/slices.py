"""Filter slices: one resolution's cells, Gi* and classes for some of the reports.

A planner filtering the map by reasons, time band or dates needs hotspots of just those
reports: their own counts and their own Gi* (a cluster of night-time reports is a hot
spot of the night slice whatever the daytime counts around it). A slice is computed on
demand for the live generation with the same aggregation and statistics as the rebuild
at that resolution (no emerging trend: that needs the monthly series of every report),
from the reports stored when it is built, weighted as of the generation's start. It is
then stored as ``HotspotCell`` rows of a ``HotspotSlice`` and reused until the generation
is retired, and deleted with it; the next generation's slices see newer reports.

Two requests for the same missing slice build it once: the second waits on a lock
(a transaction-level advisory lock on the generation and the slice) and then finds it.
"""

import hashlib
import time

from django.db import connection, transaction
from django.utils import timezone

from geo.hotspots.aggregate import Slice, cells_aggregate
from geo.hotspots.grid import grid_for
from geo.hotspots.rebuild import analyse_cells, write_cells
from geo.hotspots.study import service_area_bbox, service_area_key
from geo.models import HotspotGeneration, HotspotSlice


def live_slice(selection: Slice, *, resolution: int) -> HotspotSlice | None:
    """The slice of the live generation, built if missing; None before the first one.

    One query when the slice is already built.
    """
    found = HotspotSlice.objects.filter(
        generation__status=HotspotGeneration.Status.LIVE,
        resolution=resolution,
        key=selection.key,
    ).first()
    if found is not None:
        return found
    generation = HotspotGeneration.objects.filter(status=HotspotGeneration.Status.LIVE).first()
    if generation is None:
        return None
    return hotspot_slice(selection, resolution=resolution, generation=generation)


def hotspot_slice(
    selection: Slice, *, resolution: int, generation: HotspotGeneration
) -> HotspotSlice:
    """The slice ``selection`` of ``generation`` at ``resolution``, built if missing."""
    key = selection.key
    found = HotspotSlice.objects.filter(
        generation=generation, resolution=resolution, key=key
    ).first()
    if found is not None:
        return found
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)",
                [_LOCK_CLASS, _lock_id(generation.pk, resolution, key)],
            )
        found = HotspotSlice.objects.filter(
            generation=generation, resolution=resolution, key=key
        ).first()
        if found is not None:
            return found
        return _build(selection, resolution=resolution, generation=generation)


# The advisory lock space of slices: a constant first key, a hash of the slice second.
_LOCK_CLASS = 0x5C1CE


def _lock_id(generation_id: int, resolution: int, key: str) -> int:
    digest = hashlib.blake2b(f"{generation_id}:{resolution}:{key}".encode(), digest_size=4)
    return int.from_bytes(digest.digest(), "big", signed=True)


def _build(selection: Slice, *, resolution: int, generation: HotspotGeneration) -> HotspotSlice:
    clock = time.monotonic()
    grid = grid_for(resolution)
    cells = cells_aggregate(
        [grid],
        now=generation.started_at,
        selection=selection,
        # Inside this transaction other connections would see the same reports, but keep
        # one: a slice is asked for by a web request, which should not take every core.
        parallel=1,
    )[resolution]
    built = HotspotSlice.objects.create(
        generation=generation,
        resolution=resolution,
        key=selection.key,
        reasons=sorted(set(selection.reasons)),
        band=selection.band or "",
        since=selection.since,
        until=selection.until,
        built_at=timezone.now(),
        duration_seconds=0.0,
        report_count=int(cells.reports.sum()),
        cell_count=0,
    )
    bbox = service_area_bbox()
    if bbox is not None and len(cells):
        analysed = analyse_cells(grid, cells, bbox=bbox, key=service_area_key())
        built.cell_count = write_cells(generation.pk, analysed, slice_id=built.pk)
    built.duration_seconds = time.monotonic() - clock
    built.save(update_fields=["cell_count", "duration_seconds"])
    return built
