"""Vector tiles at 1,000,000 reports: the API cold and cached, the database's ceiling, tipg.

    .venv/bin/python -m bench.tiles [--scale 1000000] [--keep-db] [--concurrency 8]

Uses its own database (``streetsafe_tiles_bench``; ``BENCH_TILES_DATABASE_URL``, the name
must end in ``_bench``) with the West Mercia boundaries, ``load_demo --scale N`` reports and
one rebuild (skipped when the database already holds them: ``--keep-db`` keeps it). A
fixed list of z12 and z14 tiles over the densest data is then fetched for the ``reports``
and ``hotspots`` layers by a planner of the whole force, from a separate load process with
``--concurrency`` clients in flight:

1. the API on gunicorn with the tile cache off (``TILES_CACHE=false``): every tile built
   by the database (after one warm-up round that prepares the statements in each worker);
2. the same with the cache on (after one round that fills it);
3. the database's ceiling: the very statements and parameters the API ran for each tile,
   prepared, executed with psycopg2 from as many threads as clients, gunicorn stopped;
4. tipg (uvicorn, as many workers as gunicorn) serving the reports table's tiles
   (``/collections/public.reports_report/tiles/WebMercatorQuad/{z}/{x}/{y}``, the
   report columns the planner tile carries), the same z/x/y.

Prints tiles/s, p50, p99 and bytes per tile of each, the ratios to the ceiling and to
tipg, and the targets (cold at least 0.6 of the ceiling and 1.5 times tipg, cached at
least 10 times tipg). Writes everything to ``bench/results/tiles.json``.
"""

import argparse
import contextlib
import json
import math
import os
import threading
import time
from typing import Any

from bench._common import (
    PYTHON,
    RESULTS,
    bench_database_url,
    bench_env,
    close_django,
    drop_database,
    free_port,
    gunicorn,
    manage,
    percentile,
    postgresql_url,
    prepare_database,
    run_load,
    serve,
    setup_django,
)

DEFAULT_DATABASE_URL = "postgis://postgres@127.0.0.1:5432/streetsafe_tiles_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
ZOOMS = (12, 14)
LAYERS = ("reports", "hotspots")
TARGET_COLD_CEILING = 0.6
TARGET_COLD_TIPG = 1.5
TARGET_CACHED_TIPG = 10.0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    env = _bench_env()
    _prepare_database(env, scale=args.scale)
    setup_django(env)
    token = _planner_token()
    tiles = _tile_list(args.tiles)
    recorded = _record_statements(tiles)
    results: dict[str, Any] = {"scale": args.scale, "tiles": tiles, "runs": {}}
    runs = results["runs"]
    try:
        for cached in (False, True):
            phase = "cached" if cached else "cold"
            server_env = {**env, "TILES_CACHE": "true" if cached else "false"}
            log = RESULTS / "tiles-gunicorn.log"
            with gunicorn(server_env, workers=args.workers, log=log) as server:
                port = server.port
                _clear_cache()
                for layer in LAYERS:
                    for z in ZOOMS:
                        paths = [f"/tiles/{layer}/{z}/{x}/{y}.mvt" for (x, y) in tiles[str(z)]]
                        headers = {"Authorization": f"Token {token}"}
                        # Warm-up: prepares each worker's statements, reads the tables
                        # into shared buffers, fills the tile cache when it is on.
                        _load(port, paths, headers, count=len(paths) * 2, conc=args.concurrency)
                        count = args.requests * (10 if cached else 1)
                        run = _load(port, paths, headers, count=count, conc=args.concurrency)
                        runs[f"api-{phase} {layer} z{z}"] = _summary(run)
                        print(_line(f"api-{phase} {layer} z{z}", runs[f"api-{phase} {layer} z{z}"]))
        for layer in LAYERS:
            for z in ZOOMS:
                calls = recorded[f"{layer} {z}"]
                run = _ceiling(calls, count=args.requests, conc=args.concurrency)
                runs[f"ceiling {layer} z{z}"] = _summary(run)
                print(_line(f"ceiling {layer} z{z}", runs[f"ceiling {layer} z{z}"]))
        tipg_env = {
            **env,
            "DATABASE_URL": postgresql_url(env["DATABASE_URL"]),
            "TIPG_DB_SCHEMAS": '["public"]',
            "TIPG_DB_TABLES": '["public.reports_report"]',
        }
        port = free_port()
        uvicorn = [PYTHON, "-m", "uvicorn", "tipg.main:app", "--workers", str(args.workers)]
        uvicorn += ["--host", "127.0.0.1", "--port", str(port)]
        with serve(uvicorn, tipg_env, port=port, name="tipg", log=RESULTS / "tiles-tipg.log"):
            for z in ZOOMS:
                paths = [
                    f"/collections/public.reports_report/tiles/WebMercatorQuad/{z}/{x}/{y}"
                    "?properties=id,feeling,severity,felt_band,reasons"
                    for (x, y) in tiles[str(z)]
                ]
                _load(port, paths, {}, count=len(paths) * 2, conc=args.concurrency)
                run = _load(port, paths, {}, count=args.requests, conc=args.concurrency)
                runs[f"tipg reports z{z}"] = _summary(run)
                print(_line(f"tipg reports z{z}", runs[f"tipg reports z{z}"]))
    finally:
        close_django()
        if not args.keep_db:
            drop_database(env["DATABASE_URL"])
    results["verdicts"] = _verdicts(runs)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "tiles.json").write_text(json.dumps(results, indent=2))
    _print(runs, results["verdicts"], args)
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", type=int, default=1_000_000, help="demo reports (default 1e6)")
    p.add_argument("--tiles", type=int, default=12, help="tiles per zoom (default 12)")
    p.add_argument("--requests", type=int, default=240, help="requests per cold run")
    p.add_argument("--concurrency", type=int, default=8, help="clients in flight (default 8)")
    p.add_argument("--workers", type=int, default=4, help="gunicorn and uvicorn workers")
    p.add_argument("--keep-db", action="store_true", help="keep the database afterwards")
    return p


# --- the bench's own environment and database -----------------------------------------------


def _bench_env() -> dict[str, str]:
    url = bench_database_url(
        "BENCH_TILES_DATABASE_URL",
        DEFAULT_DATABASE_URL,
        suffix="_bench",
        why="its demo data is replaced and it is dropped",
    )
    return bench_env(url, os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL))


def _prepare_database(env: dict[str, str], *, scale: int) -> None:
    prepare_database(env)
    import psycopg2

    url = postgresql_url(env["DATABASE_URL"])
    with contextlib.closing(psycopg2.connect(url)) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM reports_report WHERE source = 'demo'")
        (stored,) = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM geo_hotspotgeneration WHERE status = 'live'")
        (live,) = cursor.fetchone()
    if stored != scale:
        print(f"loading {scale:,} demo reports and rebuilding (a minute)")
        manage(env, "load_demo", "--scale", str(scale), "--seed", "1")
        manage(env, "rebuild_hotspots")
    elif not live:
        manage(env, "rebuild_hotspots")


def _clear_cache() -> None:
    from django.core.cache import cache

    cache.clear()


def _planner_token() -> str:
    from knox.models import AuthToken

    from geo.access import organisation_upsert, planner_upsert
    from geo.models import Area

    organisation, _ = organisation_upsert(
        name="Bench force", areas=Area.objects.filter(kind=Area.Kind.FORCE)
    )
    user, _ = planner_upsert(username="bench-planner", organisation=organisation)
    # knox keeps only a digest of each key: a fresh key every run, the last run's revoked
    # (as create_planner --token does).
    AuthToken.objects.filter(user=user).delete()
    _, key = AuthToken.objects.create(user=user, expiry=None)
    return key


def _tile_list(per_zoom: int) -> dict[str, list[tuple[int, int]]]:
    """The tiles holding the centres of the most reported 1 km cells, per zoom."""
    from django.conf import settings
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_X(p), ST_Y(p) FROM ("
            " SELECT ST_Transform(ST_Centroid(ST_Hexagon(c.resolution / 2.0, c.i, c.j,"
            "  ST_SetSRID(ST_MakePoint(0, 0), %s))), 4326) AS p, c.reports"
            " FROM geo_hotspotcell c JOIN geo_hotspotgeneration g"
            "  ON g.id = c.generation_id AND g.status = 'live'"
            " WHERE c.slice_id IS NULL AND c.resolution = %s"
            " ORDER BY c.reports DESC, c.i, c.j LIMIT 400) top",
            [settings.ANALYSIS_SRID, max(settings.HOTSPOT_RESOLUTIONS)],
        )
        centres = cursor.fetchall()
    tiles: dict[str, list[tuple[int, int]]] = {}
    for z in ZOOMS:
        found: list[tuple[int, int]] = []
        for lon, lat in centres:
            n = 1 << z
            xy = (
                int((lon + 180.0) / 360.0 * n),
                int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n),
            )
            if xy not in found:
                found.append(xy)
            if len(found) == per_zoom:
                break
        tiles[str(z)] = found
    return tiles


def _record_statements(tiles: dict[str, list[tuple[int, int]]]) -> dict[str, list[Any]]:
    """Per layer and zoom, for each tile, the statements (and parameters) the API runs."""
    from geo.access import PlannerScope, organisation_area_ids
    from geo.filters import parse_layer_filters
    from geo.models import Organisation
    from geo.selectors import live_generation
    from geo.tiles import LAYERS as TILE_LAYERS
    from geo.tiles import Statement, Tile, data_extent, run_statement, tile_build

    organisation = Organisation.objects.get(name="Bench force")
    scope = PlannerScope(organisation, organisation_area_ids(organisation=organisation))
    generation = live_generation()
    assert generation is not None
    out: dict[str, list[Any]] = {}
    for layer_name in LAYERS:
        layer = TILE_LAYERS[layer_name]
        filters = parse_layer_filters({}, allowed=layer.params, area_ids=scope.area_ids)
        for z in ZOOMS:
            per_tile = []
            for x, y in tiles[str(z)]:
                calls: list[tuple[str, str, str, list[Any]]] = []

                def record(
                    statement: Statement, params: Any, calls: list[Any] = calls
                ) -> tuple[Any, ...]:
                    calls.append(
                        (statement.name, statement.prepare, statement.execute, list(params))
                    )
                    return run_statement(statement, params)

                tile_build(
                    layer=layer,
                    tile=Tile(z, x, y),
                    filters=filters,
                    scope=scope,
                    generation=generation.pk,
                    extent=data_extent(),
                    run=record,
                )
                per_tile.append(calls)
            out[f"{layer_name} {z}"] = per_tile
    return out


# --- servers and load ---------------------------------------------------------------------


def _load(
    port: int, paths: list[str], headers: dict[str, str], *, count: int, conc: int
) -> dict[str, Any]:
    job = {
        "host": "127.0.0.1",
        "port": port,
        "paths": paths,
        "headers": headers,
        "count": count,
        "concurrency": conc,
    }
    return run_load("bench._tiles_load", job)


def _ceiling(tiles: list[list[Any]], *, count: int, conc: int) -> dict[str, Any]:
    """Each tile's statements, prepared, from ``conc`` psycopg2 connections in threads."""
    import psycopg2
    from django.conf import settings

    url = postgresql_url(settings.DATABASE_URL)
    lock = threading.Lock()
    queue = [i % len(tiles) for i in range(count)]
    latencies: list[float] = []
    sizes: list[int] = []

    def worker(conn: Any) -> None:
        prepared: set[str] = set()
        cursor = conn.cursor()

        def one(index: int) -> tuple[float, int]:
            began = time.perf_counter()
            size = 0
            for name, prepare, execute, params in tiles[index]:
                if name not in prepared:
                    cursor.execute(prepare)
                    prepared.add(name)
                cursor.execute(execute, params)
                row = cursor.fetchone()
                size = len(row[-1] or b"")
            return time.perf_counter() - began, size

        for index in range(len(tiles)):  # warm-up: prepare, read into shared buffers
            one(index)
        barrier.wait()
        while True:
            with lock:
                if not queue:
                    return
                index = queue.pop()
            seconds, size = one(index)
            with lock:
                latencies.append(seconds)
                sizes.append(size)

    connections = []
    for _ in range(conc):
        conn = psycopg2.connect(url)
        conn.autocommit = True
        connections.append(conn)
    barrier = threading.Barrier(conc + 1)
    threads = [threading.Thread(target=worker, args=(c,)) for c in connections]
    for thread in threads:
        thread.start()
    barrier.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    for conn in connections:
        conn.close()
    return {
        "requests": count,
        "seconds": seconds,
        "latencies": latencies,
        "sizes": sizes,
        "statuses": {"200": count},
        "errors": {},
    }


# --- figures ------------------------------------------------------------------------------


def _summary(run: dict[str, Any]) -> dict[str, Any]:
    done = len(run["latencies"])
    latencies = sorted(run["latencies"])
    return {
        "requests": run["requests"],
        "answered": done,
        "statuses": run["statuses"],
        "errors": run["errors"],
        "tiles_per_s": round(done / run["seconds"], 1) if run["seconds"] else 0.0,
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 99) * 1000, 2),
        "bytes_per_tile": round(sum(run["sizes"]) / done) if done else 0,
    }


def _line(name: str, s: dict[str, Any]) -> str:
    return (
        f"  {name:<26} {s['tiles_per_s']:>8.1f} tiles/s  p50 {s['p50_ms']:>7.2f} ms  "
        f"p99 {s['p99_ms']:>7.2f} ms  {s['bytes_per_tile']:>7,} B/tile  {s['statuses']}"
        + (f" errors {s['errors']}" if s["errors"] else "")
    )


def _verdicts(runs: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for layer in LAYERS:
        for z in ZOOMS:
            cold = runs[f"api-cold {layer} z{z}"]["tiles_per_s"]
            cached = runs[f"api-cached {layer} z{z}"]["tiles_per_s"]
            ceiling = runs[f"ceiling {layer} z{z}"]["tiles_per_s"]
            tipg = runs[f"tipg reports z{z}"]["tiles_per_s"]
            checks = [
                ("cold / ceiling", cold / ceiling, TARGET_COLD_CEILING),
                ("cold / tipg", cold / tipg, TARGET_COLD_TIPG),
                ("cached / tipg", cached / tipg, TARGET_CACHED_TIPG),
            ]
            for what, ratio, target in checks:
                out.append(
                    {
                        "layer": layer,
                        "z": z,
                        "ratio": what,
                        "value": round(ratio, 2),
                        "target": target,
                        "pass": ratio >= target,
                    }
                )
    return out


def _print(runs: dict[str, Any], verdicts: list[dict[str, Any]], args: Any) -> None:
    print()
    print(
        f"Tiles at {args.scale:,} reports, {args.concurrency} clients, {args.workers} workers "
        f"(gunicorn sync; uvicorn for tipg), {os.cpu_count()} cores"
    )
    for name, summary in runs.items():
        print(_line(name, summary))
    print()
    for v in verdicts:
        mark = "PASS" if v["pass"] else "FAIL"
        print(
            f"  {v['layer']:<9} z{v['z']}  {v['ratio']:<15} {v['value']:>7.2f}  "
            f"(target {v['target']})  {mark}"
        )
    print("\nThe machine is shared: run it more than once; figures vary by 10-20 %.")


if __name__ == "__main__":
    raise SystemExit(main())
