"""The reports' load generator: a separate, single-threaded process that keeps N POST
requests in flight (``bench._http``: one ``selectors`` loop, so the client costs a few tens
of microseconds of CPU per request and never competes with itself for the GIL), and reads
where the machine's CPU went meanwhile. Every request body is built before the clock starts.

Run as ``python -m bench._load`` with a JSON job on stdin; prints a JSON result on stdout.
"""

import json
import os
import random
import resource
import sys
import uuid
from typing import Any

from bench._http import drive

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def report_body(
    point: tuple[float, float], reasons: list[str], rng: random.Random
) -> dict[str, Any]:
    """A valid report at this point, with a fresh id, as the app sends it."""
    return {
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "location": {"type": "Point", "coordinates": [point[0], point[1]]},
        "reasons": rng.sample(reasons, rng.choice((1, 2))),
        "severity": rng.choice((1, 2, 3)),
    }


def _proc_cpu(stat: str) -> tuple[str, float]:
    # /proc/<pid>/stat: "pid (comm) state ppid ... utime stime" (fields 14 and 15).
    comm = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2 :].split()
    return comm, (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def cpu_snapshot() -> tuple[dict[int, tuple[str, float]], list[int]]:
    """CPU seconds used so far by every process (by pid: name, seconds), and the machine's
    /proc/stat counters (user nice system idle iowait irq softirq steal, in ticks)."""
    procs: dict[int, tuple[str, float]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                procs[int(entry.name)] = _proc_cpu(f.read())
        except (OSError, ValueError, IndexError):
            continue
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:9]]
    return procs, ticks


def cpu_used(
    before: tuple[dict[int, tuple[str, float]], list[int]],
    after: tuple[dict[int, tuple[str, float]], list[int]],
    groups: dict[str, list[int]],
) -> dict[str, Any]:
    """Who used the CPU between two snapshots: each group of pids (the server's workers,
    the bench database's PostgreSQL processes), Redis, everything else by name (this
    process excluded), and the machine as a whole."""
    out: dict[str, Any] = {name: 0.0 for name in groups}
    out["redis"] = 0.0
    group_of = {pid: name for name, pids in groups.items() for pid in pids}
    others: dict[str, float] = {}
    me = os.getpid()
    for pid, (comm, seconds) in after[0].items():
        used = seconds - before[0].get(pid, (comm, 0.0))[1]
        if used <= 0 or (pid == me and pid not in group_of):
            continue
        if pid in group_of:
            out[group_of[pid]] += used
        elif comm == "redis-server":
            out["redis"] += used
        else:
            others[comm] = others.get(comm, 0.0) + used
    ticks = [b - a for a, b in zip(before[1], after[1], strict=True)]
    names = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
    out["machine"] = {n: t / CLOCK_TICKS for n, t in zip(names, ticks, strict=True)}
    out["machine_busy"] = (sum(ticks) - ticks[3] - ticks[4]) / CLOCK_TICKS
    out["machine_total"] = sum(ticks) / CLOCK_TICKS
    busiest = sorted(others.items(), key=lambda kv: -kv[1])[:5]
    out["other_processes"] = {k: round(v, 3) for k, v in busiest}
    return out


def http_request(host: str, port: int, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def build_requests(job: dict[str, Any]) -> list[bytes]:
    rng = random.Random(job.get("seed"))
    points = [(p[0], p[1]) for p in job["points"]]
    reasons = job["reasons"]
    host, port, path = job["host"], job["port"], job["path"]
    out = []
    for _ in range(job["count"]):
        if job["batch_size"]:
            data: Any = {
                "reports": [
                    report_body(rng.choice(points), reasons, rng) for _ in range(job["batch_size"])
                ]
            }
        else:
            data = report_body(rng.choice(points), reasons, rng)
        out.append(http_request(host, port, path, json.dumps(data).encode()))
    return out


def run(job: dict[str, Any]) -> dict[str, Any]:
    requests = build_requests(job)
    keep_bodies = bool(job["batch_size"])  # to count the reports each batch created
    groups = {"server": job.get("server_pids", []), "postgres": job.get("postgres_pids", [])}
    cpu_before = cpu_snapshot()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    answered = drive(
        requests,
        host=job["host"],
        port=job["port"],
        concurrency=job["concurrency"],
        timeout=float(job.get("timeout", 30.0)),
        # Each new connection comes from the next loopback address, as if from another phone.
        sources=job.get("source_addresses") or (),
        keep_bodies=keep_bodies,
    )
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu_after = cpu_snapshot()

    created = answered.statuses.get(201, 0)
    if keep_bodies:
        created = 0
        for body in answered.bodies:
            try:
                results = json.loads(body)["results"]
            except (ValueError, KeyError, TypeError):
                continue
            created += sum(1 for r in results if r.get("status") == "created")
    return {
        "requests": answered.requests,
        "seconds": answered.seconds,
        "latencies": answered.latencies,
        "statuses": answered.status_counts(),
        "errors": dict(answered.errors),
        "created": created,
        "connections": answered.connections,
        "cpu_seconds": {
            "client": (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime),
            **cpu_used(cpu_before, cpu_after, groups),
        },
    }


def main() -> None:
    job = json.load(sys.stdin)
    json.dump(run(job), sys.stdout)


if __name__ == "__main__":
    main()
