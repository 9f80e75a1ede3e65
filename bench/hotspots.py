"""Hotspot rebuild at 100,000 and 1,000,000 reports, and Gi* against PySAL's esda.

    .venv/bin/python -m bench.hotspots [--scales 100000,1000000] [--keep-db]

Uses its own database (``streetsafe_hsbench``), loads the West Mercia boundaries and
``load_demo --scale N`` reports made around the real police.uk locations, then times a full
rebuild (every resolution, Gi*, classes, emerging trends, places) and samples its peak
memory (this process, and this process plus the database's backends). At the largest
scale it also computes the 200 m resolution's Gi* with esda (``G_Local``, ``star=True``,
binary distance-band weights) on the same cell counts over the same study area and prints
the largest z-score difference, the share of cells with the same class and the time ratio.
Writes the figures to ``bench/results/hotspots.json``.
"""

import argparse
import json
import os
import sys
import threading
import time
from typing import Any

from bench._common import (
    RESULTS,
    bench_database_url,
    close_django,
    drop_database,
    prepare_database_here,
    setup_django,
)

DEFAULT_DATABASE_URL = "postgis://postgres@127.0.0.1:5432/streetsafe_hsbench"
TARGET_SECONDS_AT_1M = 10.0
TARGET_Z_DIFFERENCE = 1e-6


class PeakMemory:
    """Samples resident memory: this process, and it plus PostgreSQL's backends."""

    def __init__(self) -> None:
        import psutil

        self._psutil = psutil
        self.own = 0
        self.with_database = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _database_rss(self) -> int:
        total = 0
        for process in self._psutil.process_iter(["name", "memory_info"]):
            if (process.info["name"] or "").startswith("postgres") and process.info["memory_info"]:
                # Shared buffers appear in every backend: count only what is private.
                try:
                    total += process.memory_full_info().uss
                except (self._psutil.AccessDenied, self._psutil.NoSuchProcess):
                    continue
        return total

    def _run(self) -> None:
        # This process every 50 ms (cheap: one small /proc read); the database's backends
        # every 0.5 s, as reading their private memory parses each one's smaps, which takes
        # CPU (and this process's lock on Python) from the rebuild being measured.
        me = self._psutil.Process()
        database = 0
        tick = 0
        while not self._stop.wait(0.05):
            if tick % 10 == 0:
                database = self._database_rss()
            tick += 1
            own = me.memory_info().rss
            self.own = max(self.own, own)
            self.with_database = max(self.with_database, own + database)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="100000,1000000")
    parser.add_argument("--keep-db", action="store_true")
    arguments = parser.parse_args()
    scales = [int(value) for value in arguments.scales.split(",")]

    database_url = bench_database_url(
        "BENCH_HOTSPOTS_DATABASE_URL", DEFAULT_DATABASE_URL, suffix="_hsbench", why="it is emptied"
    )
    setup_django(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14"),
        }
    )
    prepare_database_here()

    results: dict[str, Any] = {"scales": {}}
    try:
        for scale in scales:
            results["scales"][str(scale)] = _rebuild_at(scale)
        results["esda"] = _compare_with_esda()
    finally:
        if not arguments.keep_db:
            close_django()
            drop_database(database_url)
    _print(results, scales)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "hotspots.json").write_text(json.dumps(results, indent=2))
    return 0


def _rebuild_at(scale: int) -> dict[str, Any]:
    from django.core.management import call_command

    from geo.hotspots.rebuild import hotspots_rebuild

    print(f"loading {scale:,} demo reports ...", flush=True)
    started = time.perf_counter()
    call_command("load_demo", scale=scale, seed=1, verbosity=0)
    load_seconds = time.perf_counter() - started
    hotspots_rebuild()  # warm: the study area's line stretches are cached after the first
    steps: list[tuple[float, str]] = []
    with PeakMemory() as memory:
        started = time.perf_counter()
        generation = hotspots_rebuild(
            progress=lambda step: steps.append((time.perf_counter() - started, step))
        )
        seconds = time.perf_counter() - started
    return {
        "reports": generation.report_count,
        "load_seconds": round(load_seconds, 2),
        "rebuild_seconds": round(seconds, 3),
        "cells": generation.cell_count,
        "places": generation.place_count,
        "peak_rss_mb": round(memory.own / 2**20, 1),
        "peak_rss_with_database_mb": round(memory.with_database / 2**20, 1),
        "steps": [(round(at, 3), step) for at, step in steps],
    }


def _compare_with_esda() -> dict[str, Any]:
    import numpy as np
    from django.conf import settings
    from django.utils import timezone

    from bench._esda import esda_gistar
    from geo.hotspots.aggregate import cells_aggregate
    from geo.hotspots.gistar import gi_star
    from geo.hotspots.grid import Lattice, grid_for, to_axial
    from geo.hotspots.stats import fdr_classes
    from geo.hotspots.study import service_area_bbox, service_area_key, study_mask

    grid = grid_for(200 if 200 in settings.HOTSPOT_RESOLUTIONS else settings.HOTSPOT_RESOLUTIONS[0])
    cells = cells_aggregate([grid], now=timezone.now())[grid.resolution]
    bbox = service_area_bbox()
    assert bbox is not None
    lattice = Lattice.covering(grid, bbox)
    study = study_mask(lattice, service_area_key(), bbox)
    q, r = to_axial(cells.i, cells.j)
    a, b = lattice.index(q, r)
    values = np.zeros(lattice.shape, dtype=np.int32)
    values[a, b] = cells.unsafe

    started = time.perf_counter()
    ours = gi_star(lattice, values, study)
    ours_seconds = time.perf_counter() - started

    everywhere = study | (values != 0)
    sa, sb = np.nonzero(everywhere)
    our_z, our_classes = ours.at(sa, sb)
    x, y = grid.centres(*lattice.cells(sa, sb))
    theirs = esda_gistar(x, y, values[sa, sb].astype(np.float64), grid.band)
    their_classes = fdr_classes(theirs.z, theirs.p)
    esda_seconds = theirs.weights_seconds + theirs.g_local_seconds
    return {
        "resolution": grid.resolution,
        "cells": len(sa),
        "max_abs_z_difference": float(np.max(np.abs(our_z - theirs.z))),
        "same_class_share": float(np.mean(our_classes == their_classes)),
        "ours_seconds": round(ours_seconds, 3),
        "esda_weights_seconds": round(theirs.weights_seconds, 3),
        "esda_g_local_seconds": round(theirs.g_local_seconds, 3),
        "esda_over_ours": round(esda_seconds / ours_seconds, 2),
        "esda_g_local_over_ours": round(theirs.g_local_seconds / ours_seconds, 2),
    }


def _print(results: dict[str, Any], scales: list[int]) -> None:
    print("\nHotspot rebuild")
    for scale in scales:
        figures = results["scales"][str(scale)]
        line = (
            f"  {figures['reports']:>9,} reports: {figures['rebuild_seconds']:6.2f} s, "
            f"{figures['cells']:,} cells, {figures['places']:,} places, peak memory "
            f"{figures['peak_rss_mb']:.0f} MB ({figures['peak_rss_with_database_mb']:.0f} MB "
            f"with the database); demo load {figures['load_seconds']:.1f} s"
        )
        print(line)
        for at, step in figures["steps"]:
            print(f"      {at:6.2f} s  {step}")
    largest = results["scales"][str(max(scales))]
    if max(scales) >= 1_000_000:
        ratio = largest["rebuild_seconds"] / TARGET_SECONDS_AT_1M
        verdict = "PASS" if ratio <= 1 else "FAIL"
        print(f"  target <= {TARGET_SECONDS_AT_1M:.0f} s at 1M: ratio {ratio:.2f} {verdict}")
    esda = results["esda"]
    print(f"\nGi* at {esda['resolution']} m over {esda['cells']:,} cells, against esda")
    z_verdict = "PASS" if esda["max_abs_z_difference"] <= TARGET_Z_DIFFERENCE else "FAIL"
    print(f"  largest |z difference|: {esda['max_abs_z_difference']:.2e} {z_verdict}")
    print(f"  same class: {esda['same_class_share']:.4%}")
    speed = "PASS" if esda["esda_over_ours"] >= 1 else "FAIL"
    print(
        f"  time: ours {esda['ours_seconds']:.3f} s, esda {esda['esda_weights_seconds']:.3f} s "
        f"weights + {esda['esda_g_local_seconds']:.3f} s G_Local; esda/ours "
        f"{esda['esda_over_ours']:.2f} ({esda['esda_g_local_over_ours']:.2f} for G_Local "
        f"alone) {speed}"
    )


if __name__ == "__main__":
    sys.exit(main())
