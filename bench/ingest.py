"""Intake throughput: the report API on gunicorn against the database's own ceiling.

    .venv/bin/python -m bench.ingest [--requests 5000] [--concurrency 16] [--batches 600]

Sets up its own database (``streetsafe_bench``), starts gunicorn with two workers, drives
``POST /api/v1/reports`` and ``POST /api/v1/reports/batch`` from a separate load process
(``bench._load``), then measures single-row INSERT + COMMIT into ``reports_report`` straight
from psycopg2 (and pgbench when installed). Prints a summary with the targets, and writes
the figures to ``bench/results/ingest.json``. See bench/README.md.
"""

import argparse
import contextlib
import csv
import itertools
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench._common import (
    PYTHON,
    RESULTS,
    ROOT,
    bench_database_url,
    bench_env,
    close_django,
    database_name,
    drop_database,
    gunicorn,
    percentile,
    prepare_database,
    run_load,
    setup_django,
)
from bench._load import cpu_snapshot, cpu_used
from bench._profile import print_top_costs

DEFAULT_DATABASE_URL = "postgis://postgres@127.0.0.1:5432/streetsafe_bench"
# Its own Redis database, so the bench never touches the throttle of a running `make run`.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
# Districts of the force area; many rows of the police.uk files are in Birmingham.
LSOA_PREFIXES = (
    "Worcester",
    "Wychavon",
    "Malvern Hills",
    "Herefordshire",
    "Shropshire",
    "Telford",
    "Bromsgrove",
    "Redditch",
    "Wyre Forest",
)
TARGET_REPORTS_PER_SECOND = 1000.0
TARGET_P99_MS = 50.0
TARGET_BATCH_REPORTS_PER_SECOND = 20000.0
WARMUP_REQUESTS = 200
WARMUP_BATCHES = 10


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    env = _bench_env()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)

    print(
        f"Database {database_name(env['DATABASE_URL'])}: "
        "ensure_database, migrate, load_west_mercia --if-missing"
    )
    prepare_database(env)
    setup_django(env)
    from django.conf import settings

    points = _points(args.points)
    batch_size = settings.MAX_BATCH
    print(f"{len(points)} report points inside the force area; batches of {batch_size}")
    sources = _source_addresses(args.source_addresses)

    results: dict[str, Any] = {}
    try:
        with gunicorn(
            env, workers=args.workers, log=RESULTS / "gunicorn.log", extra=args.gunicorn_arg
        ) as server:
            job = {
                "host": "127.0.0.1",
                "port": server.port,
                "points": points,
                "reasons": _reason_codes(),
                "source_addresses": sources,
                "server_pids": server.pids,
            }
            print(f"gunicorn on 127.0.0.1:{server.port}, workers {server.worker_pids}")

            _truncate()
            _load(job, path="/api/v1/reports", count=WARMUP_REQUESTS, conc=args.concurrency)
            # The workers hold their connections now (CONN_MAX_AGE): their backends are known.
            job["postgres_pids"] = _postgres_pids()
            _truncate()
            print(f"POST /api/v1/reports: {args.requests} requests, {args.concurrency} clients")
            quiet = _wait_quiet(args)
            with _profiled(args.profile, server.master, "single"):
                run = _load(job, path="/api/v1/reports", count=args.requests, conc=args.concurrency)
            results["single"] = _summarise(run, reports_per_request=1, stored=_count())
            results["single"]["busy_before_percent"] = quiet

            _truncate()
            _load(
                job, path="/api/v1/reports/batch", count=WARMUP_BATCHES,
                conc=args.batch_concurrency, batch_size=batch_size,
            )  # fmt: skip
            _truncate()
            print(
                f"POST /api/v1/reports/batch: {args.batches} batches of {batch_size}, "
                f"{args.batch_concurrency} clients"
            )
            quiet = _wait_quiet(args)
            with _profiled(args.profile, server.master, "batch"):
                run = _load(
                    job, path="/api/v1/reports/batch", count=args.batches,
                    conc=args.batch_concurrency, batch_size=batch_size,
                )  # fmt: skip
            results["batch"] = _summarise(run, reports_per_request=batch_size, stored=_count())
            results["batch"]["batch_size"] = batch_size
            results["batch"]["busy_before_percent"] = quiet

        # The ceilings run with gunicorn stopped: nothing else on the two cores.
        print(f"Ceiling: {args.ceiling_inserts} single-row INSERT + COMMIT, psycopg2")
        statements = _insert_statements(points, args.ceiling_inserts)
        batches = _insert_statements(points, args.batches, rows=batch_size)
        for name, conns, rows in (
            ("ceiling_1", 1, 1),
            ("ceiling", args.concurrency, 1),
            ("ceiling_batch", args.batch_concurrency, batch_size),
        ):
            _truncate()
            quiet = _wait_quiet(args)
            results[name] = _ceiling(
                batches if rows > 1 else statements, connections=conns, rows=rows
            )
            results[name]["stored"] = _count()
            results[name]["busy_before_percent"] = quiet
        if shutil.which("pgbench"):
            _truncate()
            print(f"Ceiling: pgbench, {args.concurrency} clients")
            quiet = _wait_quiet(args)
            results["pgbench"] = _pgbench(args.ceiling_inserts, args.concurrency, points[0])
            results["pgbench"]["busy_before_percent"] = quiet
        _truncate()
    finally:
        close_django()
        if not args.keep_db:
            drop_database(env["DATABASE_URL"])

    report = _report(args, results)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "ingest.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    _print(report)
    print(f"\nWritten to {out.relative_to(ROOT)}")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.split("\n")[0])
    p.add_argument("--requests", type=int, default=5000, help="single reports (default 5000)")
    p.add_argument("--concurrency", type=int, default=16, help="clients in flight (default 16)")
    p.add_argument("--batches", type=int, default=600, help="batch requests (default 600)")
    p.add_argument(
        "--batch-concurrency", type=int, default=4, help="batch clients in flight (default 4)"
    )
    p.add_argument(
        "--ceiling-inserts", type=int, default=10000, help="rows per ceiling run (default 10000)"
    )
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    p.add_argument(
        "--gunicorn-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="one more gunicorn argument, to try a setting (repeat; e.g. --gunicorn-arg=-kgthread)",
    )
    p.add_argument(
        "--source-addresses",
        type=int,
        default=250,
        help=(
            "loopback addresses the clients connect from, so the throttle sees many phones "
            "as in production; 1 sends everything from 127.0.0.1 (default 250)"
        ),
    )
    p.add_argument("--points", type=int, default=2000, help="distinct report points (2000)")
    p.add_argument(
        "--keep-db", action="store_true", help="keep the streetsafe_bench database afterwards"
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help=(
            "record the gunicorn workers with py-spy during the API phases, to "
            "bench/results/ingest-<phase>.folded, and print the top costs (slows the server)"
        ),
    )
    p.add_argument(
        "--quiet-percent",
        type=float,
        default=10.0,
        help="before each phase, wait for the machine to be at most this busy (default 10)",
    )
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=120.0,
        help="seconds to wait for that before going ahead anyway; 0: never wait (default 120)",
    )
    return p


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


# --- the bench's own environment and database ----------------------------------------------


def _bench_env() -> dict[str, str]:
    # The bench empties reports_report before every phase: never a real database.
    url = bench_database_url(
        "BENCH_DATABASE_URL", DEFAULT_DATABASE_URL, suffix="_bench", why="its reports are emptied"
    )
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    return bench_env(url, redis_url, REPORT_THROTTLE_RATE="1000000/min")


def _pg_params() -> dict[str, Any]:
    from django.conf import settings

    db = settings.DATABASES["default"]
    params = {
        "dbname": db["NAME"],
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
    }
    return {k: v for k, v in params.items() if v is not None}


def _machine_busy(seconds: float) -> float:
    """Percent of both cores busy over the next few seconds."""
    before = cpu_snapshot()[1]
    time.sleep(seconds)
    ticks = [b - a for a, b in zip(before, cpu_snapshot()[1], strict=True)]
    total = sum(ticks)
    return 100 * (total - ticks[3] - ticks[4]) / total if total else 0.0


def _wait_quiet(args: argparse.Namespace) -> float:
    """Other people's work on these two cores skews every figure: wait for it to stop."""
    busy = _machine_busy(1.0)
    if busy <= args.quiet_percent or args.quiet_wait <= 0:
        return round(busy, 1)
    print(f"  waiting up to {args.quiet_wait:.0f} s for the machine to be quiet ({busy:.0f}% busy)")
    deadline = time.monotonic() + args.quiet_wait
    while busy > args.quiet_percent and time.monotonic() < deadline:
        busy = _machine_busy(1.0)
    if busy > args.quiet_percent:
        print(f"  going ahead with the machine {busy:.0f}% busy: figures will be low")
    return round(busy, 1)


def _truncate() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE reports_report CASCADE")


def _count() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM reports_report")
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def _postgres_pids() -> list[int]:
    """The bench database's backends and PostgreSQL's own background processes."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT pid FROM pg_stat_activity
            WHERE datname = current_database()
               OR (datname IS NULL AND backend_type NOT IN ('autovacuum worker'))
            """
        )
        return [int(row[0]) for row in cursor.fetchall()]


def _reason_codes() -> list[str]:
    from reports.reasons import REASON_CODES

    return [code for code in REASON_CODES if code != "other"]


def _points(limit: int) -> list[tuple[float, float]]:
    """Real points from the police.uk files, kept only if the force area holds them."""
    import random

    from django.conf import settings

    from geo.areas import locate_points

    seen: set[tuple[float, float]] = set()
    for path in sorted((Path(settings.SHARED_DATA_DIR) / "police-uk").glob("**/*.csv")):
        with path.open(newline="") as f:
            for row in csv.DictReader(f):
                if not row.get("Longitude") or not row.get("LSOA name", "").startswith(
                    LSOA_PREFIXES
                ):
                    continue
                seen.add((float(row["Longitude"]), float(row["Latitude"])))
    candidates = sorted(seen)
    random.Random(7).shuffle(candidates)
    candidates = candidates[: limit * 2]
    located = locate_points(candidates)
    points = [p for p, where in zip(candidates, located, strict=True) if where.in_service_area]
    if not points:
        raise SystemExit("No police.uk point falls inside the loaded force area.")
    return points[:limit]


def _source_addresses(count: int) -> list[str]:
    if count <= 1:
        return ["127.0.0.1"]
    return [f"127.0.{i // 254}.{i % 254 + 1}" for i in range(1, count + 1)]


# --- the API phases ------------------------------------------------------------------------


@contextlib.contextmanager
def _profiled(enabled: bool, master: int, phase: str) -> Iterator[None]:
    if not enabled:
        yield
        return
    py_spy = shutil.which("py-spy") or str(Path(PYTHON).parent / "py-spy")
    if not Path(py_spy).exists():
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    out = RESULTS / f"ingest-{phase}.folded"
    # --gil: only samples taken while a worker runs Python (or C holding the GIL), so waits
    # on PostgreSQL, Redis and the socket are left out: a CPU profile, not a wall-clock one.
    spy = subprocess.Popen(
        [py_spy, "record", "--pid", str(master), "--subprocesses", "--nonblocking", "--gil",
         "--rate", "200", "--format", "raw", "--output", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(1.5)  # py-spy attaches to each worker
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=30)
    print(f"  profile of the workers: {out.relative_to(ROOT)}")
    print_top_costs(out)


def _load(
    job: dict[str, Any], *, path: str, count: int, conc: int, batch_size: int = 0
) -> dict[str, Any]:
    spec = {**job, "path": path, "count": count, "concurrency": conc, "batch_size": batch_size}
    spec["seed"] = uuid.uuid4().int
    return run_load("bench._load", spec)


def _latency_ms(latencies: list[float]) -> dict[str, float]:
    values = sorted(latencies)
    return {
        "p50_ms": round(percentile(values, 50) * 1000, 2),
        "p90_ms": round(percentile(values, 90) * 1000, 2),
        "p99_ms": round(percentile(values, 99) * 1000, 2),
        "max_ms": round(values[-1] * 1000, 2) if values else float("nan"),
        "mean_ms": round(sum(values) / len(values) * 1000, 2) if values else float("nan"),
    }


def _summarise(run: dict[str, Any], *, reports_per_request: int, stored: int) -> dict[str, Any]:
    seconds = run["seconds"]
    requests = run["requests"]
    cpu = run["cpu_seconds"]
    names = ("server", "postgres", "redis", "client")
    cpu["other"] = cpu["machine_busy"] - sum(cpu[name] for name in names)
    per_request_ms = {name: round(cpu[name] / requests * 1000, 3) for name in (*names, "other")}
    return {
        "requests": requests,
        "seconds": round(seconds, 3),
        "requests_per_second": round(requests / seconds, 1),
        "accepted_reports": run["created"],
        "reports_per_second": round(run["created"] / seconds, 1),
        "stored_rows": stored,
        "statuses": run["statuses"],
        "errors": run["errors"],
        "tcp_connections": run["connections"],
        **_latency_ms(run["latencies"]),
        "cpu_ms_per_request": per_request_ms,
        "cpu_ms_per_report": {
            k: round(v / reports_per_request, 3) for k, v in per_request_ms.items()
        },
        "machine_busy_percent": round(100 * cpu["machine_busy"] / cpu["machine_total"], 1)
        if cpu["machine_total"]
        else None,
        "noise_percent": round(100 * cpu["other"] / cpu["machine_total"], 1)
        if cpu["machine_total"]
        else None,
        "machine_cpu_seconds": {k: round(v, 3) for k, v in cpu["machine"].items()},
        "other_processes_cpu_seconds": cpu["other_processes"],
    }


# --- the database's ceiling ----------------------------------------------------------------


def _insert_statements(
    points: list[tuple[float, float]], count: int, *, rows: int = 1
) -> list[bytes]:
    """The intake's INSERT (``reports.services.INSERT_SQL``, prepared as the API prepares it)
    for ``count`` statements of ``rows`` new reports each, bound before the clock starts:
    exactly the database work of the API's requests, the areas found beforehand as the API
    finds them in memory."""
    import random

    import psycopg2
    from django.utils import timezone

    from geo.areas import locate_points
    from reports.intake import ReportInput
    from reports.services import _EXECUTE_SQL, insert_params, receipt_for

    areas = dict(zip(points, (loc.area_id for loc in locate_points(points)), strict=True))
    reasons = _reason_codes()
    rng = random.Random(11)
    now = timezone.now()
    conn = psycopg2.connect(**_pg_params())
    out = []
    with conn.cursor() as cursor:
        for _ in range(count):
            reports = []
            for _ in range(rows):
                lon, lat = rng.choice(points)
                reports.append(
                    ReportInput(
                        id=uuid.uuid4(),
                        longitude=lon,
                        latitude=lat,
                        reasons=tuple(sorted(rng.sample(reasons, rng.choice((1, 2))))),
                        feeling="unsafe",
                        severity=rng.choice((1, 2, 3)),
                        felt_at=None,
                        description="",
                        app_version="",
                    )
                )
            receipts = {r.key: receipt_for(r.key, r.digest) for r in reports}
            area_ids = [areas[(r.longitude, r.latitude)] for r in reports]
            out.append(
                cursor.mogrify(_EXECUTE_SQL, insert_params(reports, receipts, area_ids, now=now))
            )
    conn.close()
    return out


def _ceiling(statements: list[bytes], *, connections: int, rows: int = 1) -> dict[str, Any]:
    """Each statement on its own in autocommit: one transaction, one WAL flush, per row."""
    import psycopg2

    from reports.services import _PREPARE_SQL

    conns = []
    for _ in range(connections):
        conn = psycopg2.connect(**_pg_params())
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(_PREPARE_SQL)
        conns.append(conn)
    next_index = itertools.count()
    latencies: list[list[float]] = [[] for _ in conns]
    errors: list[BaseException] = []
    barrier = threading.Barrier(connections + 1)

    def work(conn: Any, out: list[float]) -> None:
        try:
            with conn.cursor() as cursor:
                barrier.wait()
                while (i := next(next_index)) < len(statements):
                    started = time.perf_counter()
                    cursor.execute(statements[i])
                    cursor.fetchall()
                    out.append(time.perf_counter() - started)
        except BaseException as exc:
            errors.append(exc)
            raise

    threads = [
        threading.Thread(target=work, args=(c, out), daemon=True)
        for c, out in zip(conns, latencies, strict=True)
    ]
    groups = {"postgres": _postgres_pids(), "client": [os.getpid()]}
    for t in threads:
        t.start()
    cpu_before = cpu_snapshot()
    barrier.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - began
    cpu = cpu_used(cpu_before, cpu_snapshot(), groups)
    for conn in conns:
        conn.close()
    if errors:
        raise errors[0]
    done = sum(len(out) for out in latencies) * rows
    return {
        "connections": connections,
        "statements": f"insert of {rows} rows",
        "rows": done,
        "seconds": round(seconds, 3),
        "reports_per_second": round(done / seconds, 1),
        **_latency_ms([x for out in latencies for x in out]),
        "cpu_ms_per_report": {
            "postgres": round(cpu["postgres"] / done * 1000, 3),
            "client": round(cpu["client"] / done * 1000, 3),
        },
        "machine_busy_percent": round(100 * cpu["machine_busy"] / cpu["machine_total"], 1),
    }


_PGBENCH_SQL = """\\set dx random(-5000, 5000)
\\set dy random(-5000, 5000)
INSERT INTO reports_report (id, location, location_projected, area_id, reasons, feeling, \
severity, felt_at, received_at, description, description_redacted, text_state, app_version, \
source, body_digest, receipt_hash) SELECT gen_random_uuid(), p, ST_Transform(p, {srid}), \
{area_id}, '{{poor_lighting}}', 'unsafe', 2, NULL, date_trunc('hour', now()), '', '', 'none', \
'', 'app', md5(random()::text) || md5(random()::text), md5(random()::text) || \
md5(random()::text) FROM (SELECT ST_SetSRID(ST_MakePoint({lon} + :dx / 1000000.0, \
{lat} + :dy / 1000000.0), 4326) AS p) s;
"""


def _pgbench(rows: int, clients: int, point: tuple[float, float]) -> dict[str, Any]:
    """The same row from a C client: what the database does with no Python in front."""
    from django.conf import settings

    from geo.areas import locate_points

    area_id = locate_points([point])[0].area_id
    script = _PGBENCH_SQL.format(
        srid=settings.ANALYSIS_SRID, area_id=area_id, lon=point[0], lat=point[1]
    )
    params = _pg_params()
    per_client = max(1, rows // clients)
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as f:
        f.write(script)
        f.flush()
        command = ["pgbench", "-n", "-c", str(clients), "-j", "2", "-t", str(per_client)]
        command += ["-f", f.name, "-h", str(params.get("host", "127.0.0.1"))]
        command += ["-p", str(params.get("port", 5432)), "-U", str(params.get("user", "postgres"))]
        done = subprocess.run(
            [*command, params["dbname"]], capture_output=True, text=True, check=False
        )
    if done.returncode != 0:
        return {"error": done.stderr.strip()[-500:]}
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", done.stdout)
    latency = re.search(r"latency average = ([\d.]+) ms", done.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", done.stdout)
    return {
        "connections": clients,
        "rows": per_client * clients,
        "reports_per_second": float(tps.group(1)) if tps else None,
        "mean_ms": float(latency.group(1)) if latency else None,
        "failed": int(failed.group(1)) if failed else 0,
    }


# --- the summary ---------------------------------------------------------------------------


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def _report(args: argparse.Namespace, results: dict[str, Any]) -> dict[str, Any]:
    single, batch, ceiling = results["single"], results["batch"], results["ceiling"]
    pgbench = results.get("pgbench", {}).get("reports_per_second")
    single_rate = single["reports_per_second"]
    targets = {
        "single_reports_per_second": {
            "target": f">= {TARGET_REPORTS_PER_SECOND:.0f}",
            "measured": single["reports_per_second"],
            "pass": single["reports_per_second"] >= TARGET_REPORTS_PER_SECOND,
        },
        "single_p99_ms": {
            "target": f"< {TARGET_P99_MS:.0f}",
            "measured": single["p99_ms"],
            "pass": single["p99_ms"] < TARGET_P99_MS,
        },
        "batch_reports_per_second": {
            "target": f">= {TARGET_BATCH_REPORTS_PER_SECOND:.0f}",
            "measured": batch["reports_per_second"],
            "pass": batch["reports_per_second"] >= TARGET_BATCH_REPORTS_PER_SECOND,
        },
    }
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "options": vars(args),
        **results,
        "ratios": {
            "single_to_ceiling": _ratio(single_rate, ceiling["reports_per_second"]),
            "single_to_pgbench": _ratio(single["reports_per_second"], pgbench),
            "batch_to_batch_ceiling": _ratio(
                batch["reports_per_second"], results["ceiling_batch"]["reports_per_second"]
            ),
        },
        "targets": targets,
    }


def _print(report: dict[str, Any]) -> None:
    rows: list[tuple[str, ...]] = [
        ("phase", "requests", "accepted", "s", "reports/s", "p50 ms", "p99 ms", "max ms")
    ]

    def row(name: str, r: dict[str, Any], requests: Any, accepted: Any) -> None:
        rows.append(
            (
                name,
                str(requests),
                str(accepted),
                f"{r.get('seconds', float('nan')):.2f}",
                f"{r['reports_per_second']:,.0f}" if r.get("reports_per_second") else "-",
                f"{r['p50_ms']:.1f}" if "p50_ms" in r else "-",
                f"{r['p99_ms']:.1f}" if "p99_ms" in r else "-",
                f"{r['max_ms']:.1f}" if "max_ms" in r else "-",
            )
        )

    s, b = report["single"], report["batch"]
    opts = report["options"]
    row(f"POST /reports, {opts['concurrency']} clients", s, s["requests"], s["accepted_reports"])
    row(
        f"POST /reports/batch x{b['batch_size']}, {opts['batch_concurrency']} clients",
        b,
        b["requests"],
        b["accepted_reports"],
    )
    for key, label in (
        ("ceiling_1", "DB INSERT+COMMIT, 1 conn"),
        ("ceiling", f"DB INSERT+COMMIT, {opts['concurrency']} conns"),
        ("ceiling_batch", f"DB INSERT x{b['batch_size']}, {opts['batch_concurrency']} conns"),
    ):
        c = report[key]
        row(label, c, c["rows"], c["stored"])
    if "pgbench" in report:
        p = report["pgbench"]
        if "error" in p:
            rows.append(("pgbench", "error", p["error"][:60], "", "", "", "", ""))
        else:
            rows.append(
                (
                    f"pgbench INSERT, {p['connections']} conns",
                    str(p["rows"]),
                    str(p["rows"] - p["failed"]),
                    "-",
                    f"{p['reports_per_second']:,.0f}",
                    f"(avg {p['mean_ms']:.1f})",
                    "-",
                    "-",
                )
            )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print()
    for i, r in enumerate(rows):
        cells = zip(r, widths, strict=True)
        print("  ".join(c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(cells)))
        if i == 0:
            print("  ".join("-" * w for w in widths))

    print("\nStatus counts:")
    for key in ("single", "batch"):
        r = report[key]
        extra = f", errors {r['errors']}" if r["errors"] else ""
        print(f"  {key}: {r['statuses']}{extra}; {r['stored_rows']} rows stored; "
              f"{r['tcp_connections']} TCP connections")  # fmt: skip

    print("\nCPU per request, ms (server = gunicorn; machine busy = both cores):")
    for key in ("single", "batch"):
        r = report[key]
        cpu = r["cpu_ms_per_request"]
        print(
            f"  {key}: server {cpu['server']:.2f}, postgres {cpu['postgres']:.2f}, "
            f"redis {cpu['redis']:.2f}, load client {cpu['client']:.2f}, "
            f"rest of the machine {max(cpu['other'], 0.0):.2f}; "
            f"machine busy {r['machine_busy_percent']}%"
        )
        if r["noise_percent"] and r["noise_percent"] > 10:
            print(
                f"    WARNING: {r['noise_percent']}% of the machine went to other work "
                f"({r['other_processes_cpu_seconds']}); run again on a quiet machine"
            )

    for key in ("ceiling_1", "ceiling", "ceiling_batch"):
        c = report[key]
        cpu = c["cpu_ms_per_report"]
        print(
            f"  {key} ({c['connections']} conns, {c['statements']}): postgres "
            f"{cpu['postgres']:.2f}, psycopg2 client {cpu['client']:.2f}; "
            f"machine busy {c['machine_busy_percent']}%"
        )

    print("\nRatios:")
    for key, value in report["ratios"].items():
        print(f"  {key}: {value if value is not None else '-'}")

    print("\nTargets:")
    for key, t in report["targets"].items():
        verdict = "PASS" if t["pass"] else "FAIL"
        print(f"  {verdict}  {key}: {t['measured']} (target {t['target']})")


if __name__ == "__main__":
    raise SystemExit(main())
