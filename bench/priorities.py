"""Priorities at 1,000,000 reports: the asset import, a whole force's answer, greedy against
the optimum.

    .venv/bin/python -m bench.priorities [--scale 1000000] [--keep-db] [--repeat 3]

Uses its own database (``streetsafe_priorities_bench``; ``BENCH_PRIORITIES_DATABASE_URL``,
the name must end in ``_bench``: its assets are emptied) with the West Mercia boundaries and
``load_demo --scale N`` reports (skipped when it already holds exactly that many):

1. the full Bristol street lights file (``../shared/data/assets/bristol_streetlights.csv``)
   imported by ``manage.py import_assets --kind light FILE --lon-field longitude --lat-field
   latitude`` into an empty table, in this process: rows/s against 50,000 rows/s; then the
   Sheffield cameras (traffic cameras told apart by their notes);
2. both moved onto Worcester (Bristol's and Sheffield's lights and cameras are far from any
   West Mercia report: translated, centroid onto Worcester's centre, so that coverage is
   not trivially empty);
3. the answer for the whole force, lighting (25 m) and cameras (50 m), with
   ``PRIORITIES_MAX_CANDIDATES`` 5,000 and a budget of a million pounds: the time of each
   step (reading the uncovered demand with the coverage rule, candidates and their
   reports, the choice, the coordinates), best of ``--repeat``, against 5 s; and, for
   comparison, the same candidate-report pairs from a PostGIS join over the reports' GiST
   index;
4. the greedy choice (and the choice after exchanges) against the exact optimum (PuLP's
   CBC) on growing instances of the whole force's questions (the N cells with the most
   demand, and as many lamp columns for cameras; a tenth as many sites), until CBC cannot
   prove its optimum within a minute: the ratio on the largest it solved.

Prints each figure with its ratio to its target; writes ``bench/results/priorities.json``.
"""

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from io import StringIO
from typing import Any

import numpy as np

from bench._common import (
    RESULTS,
    ROOT,
    bench_database_url,
    close_django,
    drop_database,
    prepare_database_here,
    setup_django,
)

ASSETS = ROOT.parent / "shared" / "data" / "assets"
LIGHTS_FILE = ASSETS / "bristol_streetlights.csv"
CAMERAS_FILE = ASSETS / "sheffield_cctv.geojson"
DEFAULT_DATABASE_URL = "postgis://postgres@127.0.0.1:5432/streetsafe_priorities_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"
# Angel Street, Worcester city centre (a police.uk map point; tests/fixtures/points.py).
WORCESTER = (-2.222101, 52.193613)
TARGET_IMPORT_ROWS_PER_SECOND = 50_000.0
TARGET_ANSWER_SECONDS = 5.0
TARGET_RATIO = 0.98
CANDIDATES = 5000
BUDGET = 1_000_000.0
CBC_SECONDS = 60.0
# (need, radius, cell candidates): growing until CBC cannot prove its optimum in a minute.
QUESTIONS_AGAINST_OPTIMUM = (
    ("lighting", 25, (1000, 5000, 20000, 100000)),
    ("cctv", 50, (1000, 5000, 20000)),
    ("lighting", 100, (1000, 5000)),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=1_000_000, help="demo reports")
    parser.add_argument("--repeat", type=int, default=3, help="timed answers per question")
    parser.add_argument("--keep-db", action="store_true", help="keep the database afterwards")
    arguments = parser.parse_args(argv)

    database_url = bench_database_url(
        "BENCH_PRIORITIES_DATABASE_URL",
        DEFAULT_DATABASE_URL,
        suffix="_bench",
        why="its assets are emptied",
    )
    setup_django(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL),
        }
    )
    from django.conf import settings

    settings.PRIORITIES_MAX_CANDIDATES = CANDIDATES
    prepare_database_here()

    results: dict[str, Any] = {"scale": arguments.scale}
    try:
        results["import"] = _import_assets()
        results["moved"] = _move_assets_onto(WORCESTER)
        _load_reports(arguments.scale)
        results["answers"] = {
            need: _time_answer(need, radius, repeat=arguments.repeat)
            for need, radius in (("lighting", 25), ("cctv", 50))
        }
        results["optimum"] = _against_optimum()
    finally:
        close_django()
        if not arguments.keep_db:
            drop_database(database_url)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "priorities.json").write_text(json.dumps(results, indent=2))
    _print(results)
    return 0


# --- 1 and 2: the assets ---------------------------------------------------------------


def _import_assets() -> dict[str, Any]:
    from django.core.management import call_command
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE geo_streetlight, geo_camera CASCADE")
    print(f"importing {LIGHTS_FILE.name} ...", flush=True)
    out = StringIO()
    seconds = _import_lights(out)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM geo_streetlight")
        (lights,) = cursor.fetchone()
    # Once more: every row is already there, so each is matched and left unchanged.
    again_seconds = _import_lights(StringIO())
    call_command(
        "import_assets",
        str(CAMERAS_FILE),
        kind="camera",
        # No id field: cam_number repeats (146 distinct of 212), so ids come from positions,
        # as load_demo does.
        label_field="location",
        kind_field="notes",
        verbosity=0,
        stdout=StringIO(),
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT kind, count(*) FROM geo_camera GROUP BY kind ORDER BY kind")
        cameras = dict(cursor.fetchall())
    return {
        "lights": lights,
        "seconds": round(seconds, 3),
        "rows_per_second": round(lights / seconds),
        "again_seconds": round(again_seconds, 3),
        "again_rows_per_second": round(lights / again_seconds),
        "command_said": out.getvalue().strip(),
        "cameras": cameras,
    }


def _import_lights(out: StringIO) -> float:
    """Seconds to import the street lights file, the command's output to ``out``."""
    from django.core.management import call_command

    started = time.perf_counter()
    call_command(
        "import_assets",
        str(LIGHTS_FILE),
        kind="light",
        lon_field="longitude",
        lat_field="latitude",
        verbosity=0,
        stdout=out,
    )
    return time.perf_counter() - started


def _move_assets_onto(lonlat: tuple[float, float]) -> dict[str, Any]:
    """Translates each table's assets so that their centroid lies on ``lonlat``."""
    from django.conf import settings
    from django.db import connection

    from geo.assets import assets_changed

    moved = {}
    with connection.cursor() as cursor:
        for table in ("geo_streetlight", "geo_camera"):
            cursor.execute(
                f"""
                WITH shift AS (
                    SELECT ST_X(t.p) - ST_X(c.p) AS dx, ST_Y(t.p) - ST_Y(c.p) AS dy
                    FROM (SELECT ST_Centroid(ST_Collect(location_projected)) AS p
                          FROM {table}) c,
                         (SELECT ST_Transform(ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s),
                                 4326), %(srid)s) AS p) t
                )
                UPDATE {table} SET
                    location_projected = ST_Translate(location_projected, shift.dx, shift.dy),
                    location = ST_Transform(
                        ST_Translate(location_projected, shift.dx, shift.dy), 4326)
                FROM shift
                RETURNING shift.dx, shift.dy
                """,
                {"lon": lonlat[0], "lat": lonlat[1], "srid": settings.ANALYSIS_SRID},
            )
            shifts = cursor.fetchall()
            if shifts:
                moved[table] = [round(shifts[0][0]), round(shifts[0][1])]
        cursor.execute("ANALYZE geo_streetlight")
        cursor.execute("ANALYZE geo_camera")
    assets_changed()
    return moved


def _load_reports(scale: int) -> None:
    from django.core.management import call_command
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM reports_report WHERE source = 'demo'")
        (stored,) = cursor.fetchone()
    if stored != scale:
        print(f"loading {scale:,} demo reports (about a minute) ...", flush=True)
        call_command("load_demo", scale=scale, seed=1, verbosity=0)


# --- 3: the whole force's answer ------------------------------------------------------------


def _time_answer(need_name: str, radius: int, *, repeat: int) -> dict[str, Any]:
    from django.conf import settings

    from geo.coverage import Need
    from geo.models import Area
    from geo.priorities import default_unit_cost, priorities_candidates, priorities_choose

    need = Need(need_name)
    scope = list(
        Area.objects.filter(kind=Area.Kind.LOCAL_POLICING_AREA).values_list("pk", flat=True)
    )
    unit_cost = default_unit_cost(need)
    runs: list[dict[str, Any]] = []
    answer = None
    for _ in range(repeat):
        steps: list[tuple[float, float]] = []
        started = time.perf_counter()
        answer = priorities_choose(
            need=need,
            budget=BUDGET,
            unit_cost=unit_cost,
            radius=radius,
            area_ids=scope,
            progress=_recorder(steps, started),
        )
        runs.append({"seconds": time.perf_counter() - started, "steps": steps})
    assert answer is not None
    best = min(runs, key=lambda run: run["seconds"])
    marks = dict((fraction, at) for at, fraction in best["steps"])
    candidates = priorities_candidates(need=need, radius=radius, area_ids=scope)
    postgis_pairs, postgis_seconds = _postgis_pairs(candidates, need, radius, scope)
    return {
        "radius": radius,
        "unit_cost": unit_cost,
        "seconds": round(best["seconds"], 3),
        "all_seconds": [round(run["seconds"], 3) for run in runs],
        "demand_seconds": round(marks.get(0.6, 0.0), 3),
        "candidates_seconds": round(marks.get(0.8, 0.0) - marks.get(0.6, 0.0), 3),
        "choice_seconds": round(marks.get(0.9, 0.0) - marks.get(0.8, 0.0), 3),
        "rest_seconds": round(best["seconds"] - marks.get(0.9, 0.0), 3),
        "demand_reports": answer.demand_reports,
        "candidates": answer.candidate_count,
        "lamp_columns": int(candidates.lamp.sum()),
        "pairs": len(candidates.members),
        "sites": len(answer.sites),
        "share_covered": round(answer.share_covered, 4),
        "reports_covered": answer.reports_covered,
        "postgis_pairs": postgis_pairs,
        "postgis_pairs_seconds": round(postgis_seconds, 3),
        "max_candidates": settings.PRIORITIES_MAX_CANDIDATES,
    }


def _recorder(steps: list[tuple[float, float]], started: float) -> Callable[[float], None]:
    """Records when each share of the work was done."""

    def record(fraction: float) -> None:
        steps.append((time.perf_counter() - started, fraction))

    return record


def _postgis_pairs(candidates: Any, need: Any, radius: int, scope: list[int]) -> tuple[int, float]:
    """The same candidate-report pairs from a PostGIS join over the reports' GiST index."""
    from django.conf import settings
    from django.db import connection

    from geo.coverage import uncovered_demand_sql

    uncovered, params = uncovered_demand_sql(need)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM unnest(%(xs)s::float8[], %(ys)s::float8[]) AS c (x, y)"
            " JOIN reports_report r ON ST_DWithin(r.location_projected,"
            "   ST_SetSRID(ST_MakePoint(c.x, c.y), %(srid)s), %(radius)s)"
            f" WHERE r.area_id = ANY(%(scope)s::bigint[]) AND {uncovered}",
            {
                **params,
                "xs": candidates.x.tolist(),
                "ys": candidates.y.tolist(),
                "srid": settings.ANALYSIS_SRID,
                "radius": radius,
                "scope": scope,
            },
        )
        (pairs,) = cursor.fetchone()
    return int(pairs), time.perf_counter() - started


# --- 4: greedy against the optimum ------------------------------------------------------


def _against_optimum() -> list[dict[str, Any]]:
    from django.conf import settings

    from geo.coverage import Need
    from geo.models import Area
    from geo.priorities import greedy_choice, priorities_candidates, sites_choose
    from tests.geo.test_priorities import optimum

    scope = list(
        Area.objects.filter(kind=Area.Kind.LOCAL_POLICING_AREA).values_list("pk", flat=True)
    )
    found = []
    for need_name, radius, sizes in QUESTIONS_AGAINST_OPTIMUM:
        need = Need(need_name)
        for size in sizes:
            settings.PRIORITIES_MAX_CANDIDATES = size
            started = time.perf_counter()
            candidates = priorities_candidates(need=need, radius=radius, area_ids=scope)
            sites = max(len(candidates) // 10, 1)
            greedy = sum(pick.gain for pick in greedy_choice(candidates, max_sites=sites))
            chosen = sum(pick.gain for pick in sites_choose(candidates, max_sites=sites))
            ours = time.perf_counter() - started
            print(f"CBC: {need_name}, {radius} m, {len(candidates):,} candidates ...", flush=True)
            best = optimum(candidates, max_sites=sites, time_limit=CBC_SECONDS)
            found.append(
                {
                    "need": need_name,
                    "radius": radius,
                    "candidates": len(candidates),
                    "sites": sites,
                    "reports": len(np.unique(candidates.members)),
                    "proven": best.proven,
                    "cbc_seconds": round(best.seconds, 2),
                    "ours_seconds": round(ours, 2),
                    "greedy_ratio": greedy / best.value if best.value else 1.0,
                    "chosen_ratio": chosen / best.value if best.value else 1.0,
                }
            )
            if not best.proven or len(candidates) < size:
                break  # CBC ran out of time, or there are no more candidates to add
    settings.PRIORITIES_MAX_CANDIDATES = CANDIDATES
    return found


# --- the database and the summary --------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _print(results: dict[str, Any]) -> None:
    imported = results["import"]
    rate = imported["rows_per_second"]
    target = TARGET_IMPORT_ROWS_PER_SECOND
    print(f"\nAsset import ({LIGHTS_FILE.name}, into an empty table)")
    print(
        f"  {imported['lights']:,} lights in {imported['seconds']:.2f} s: {rate:,} rows/s; "
        f"ratio to the {target:,.0f} rows/s target {rate / target:.2f} {_verdict(rate >= target)}"
    )
    print(
        f"  again, every row already stored: {imported['again_seconds']:.2f} s "
        f"({imported['again_rows_per_second']:,} rows/s)"
    )
    print(f"  cameras ({CAMERAS_FILE.name}): {imported['cameras']}")
    print(
        "  then moved onto Worcester (centroid onto Angel Street, so that coverage is not "
        f"empty), by metres east, north: {results['moved']}"
    )
    print(f"\nThe whole force's answer ({results['scale']:,} reports, best of the runs)")
    for need, answer in results["answers"].items():
        seconds = answer["seconds"]
        print(
            f"  {need} ({answer['radius']} m, £{answer['unit_cost']:,.0f} a site, "
            f"£{BUDGET:,.0f}): {seconds:.2f} s; ratio to the {TARGET_ANSWER_SECONDS:.0f} s "
            f"target {seconds / TARGET_ANSWER_SECONDS:.2f} "
            f"{_verdict(seconds <= TARGET_ANSWER_SECONDS)} (runs: {answer['all_seconds']})"
        )
        print(
            f"      uncovered demand read with the coverage rule: {answer['demand_seconds']:.2f} s "
            f"({answer['demand_reports']:,} reports)"
        )
        print(
            f"      candidates and what each covers: {answer['candidates_seconds']:.2f} s "
            f"({answer['candidates']:,} candidates, {answer['lamp_columns']:,} of them lamp "
            f"columns; {answer['pairs']:,} pairs)"
        )
        print(
            f"      the choice: {answer['choice_seconds']:.2f} s ({answer['sites']:,} sites, "
            f"{answer['reports_covered']:,} reports, {answer['share_covered']:.1%} of the "
            f"weighted demand); coordinates {answer['rest_seconds']:.2f} s"
        )
        print(
            f"      the same pairs by a PostGIS GiST join: {answer['postgis_pairs_seconds']:.2f} s "
            f"({answer['postgis_pairs']:,} pairs)"
        )
    print(f"\nGreedy against the optimum (CBC, at most {CBC_SECONDS:.0f} s, N / 10 sites)")
    for row in results["optimum"]:
        print(
            f"  {row['need']} {row['radius']} m: {row['candidates']:>6,} candidates, "
            f"{row['sites']:>5,} sites, {row['reports']:>7,} reports; "
            f"CBC {row['cbc_seconds']:.1f} s{'' if row['proven'] else ' (NOT proven optimal)'}; "
            "greedy / optimum "
            f"{row['greedy_ratio']:.4f}, after exchanges {row['chosen_ratio']:.4f} "
            f"(ours {row['ours_seconds']:.1f} s)"
        )
    proven = [row for row in results["optimum"] if row["proven"]]
    if proven:
        largest = max(proven, key=lambda row: (row["candidates"], row["reports"]))
        ratio = largest["chosen_ratio"]
        print(
            f"  largest CBC solved: {largest['need']} at {largest['radius']} m, "
            f"{largest['candidates']:,} candidates: ratio {ratio:.4f}; against the "
            f"{TARGET_RATIO} target {ratio / TARGET_RATIO:.3f} {_verdict(ratio >= TARGET_RATIO)}"
        )
        worst = min(proven, key=lambda row: row["chosen_ratio"])
        print(
            f"  lowest ratio of all solved: {worst['chosen_ratio']:.4f} ({worst['need']}, "
            f"{worst['radius']} m, {worst['candidates']:,} candidates; greedy alone "
            f"{worst['greedy_ratio']:.4f})"
        )


if __name__ == "__main__":
    sys.exit(main())
