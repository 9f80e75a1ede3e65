"""The load generator: a separate, single-threaded process that keeps N requests in flight.

One ``selectors`` loop drives every connection with non-blocking sockets, so the client
costs a few tens of microseconds of CPU per request and never competes with itself for
the GIL. Every request is built before the clock starts. A connection is reused when the
server keeps it alive; gunicorn's sync workers close it after each response, so then each
request pays for a new TCP connection (inside its measured latency, as a real client would).

Run as ``python -m bench._load`` with a JSON job on stdin; prints a JSON result on stdout.
"""

import json
import os
import random
import resource
import selectors
import socket
import sys
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

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


@dataclass
class _Slot:
    sock: socket.socket | None = None
    out: memoryview = field(default_factory=lambda: memoryview(b""))
    buf: bytearray = field(default_factory=bytearray)
    started: float = 0.0
    header_end: int = -1
    length: int | None = None
    status: int = 0
    close_after: bool = False


def run(job: dict[str, Any]) -> dict[str, Any]:
    requests = deque(build_requests(job))
    total = len(requests)
    keep_bodies = bool(job["batch_size"])
    address = (job["host"], job["port"])
    # Each new connection comes from the next loopback address, as if from another phone.
    sources = job.get("source_addresses") or [""]
    next_source = 0
    timeout = float(job.get("timeout", 30.0))

    sel = selectors.DefaultSelector()
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    bodies: list[bytes] = []
    connections = 0

    def start(slot: _Slot) -> None:
        nonlocal connections, next_source
        slot.started = time.perf_counter()
        slot.out = memoryview(requests.popleft())
        slot.buf = bytearray()
        slot.header_end, slot.length, slot.status, slot.close_after = -1, None, 0, False
        if slot.sock is None:
            # Loopback connect completes in the kernel's accept queue: no need to wait.
            sock = socket.create_connection(address, source_address=(sources[next_source], 0))
            next_source = (next_source + 1) % len(sources)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(False)
            slot.sock = sock
            connections += 1
            sel.register(sock, selectors.EVENT_WRITE, slot)
        else:
            sel.modify(slot.sock, selectors.EVENT_WRITE, slot)
        send(slot)

    def drop(slot: _Slot) -> None:
        if slot.sock is not None:
            sel.unregister(slot.sock)
            slot.sock.close()
            slot.sock = None

    def send(slot: _Slot) -> None:
        assert slot.sock is not None
        try:
            sent = slot.sock.send(slot.out)
        except BlockingIOError:
            return
        slot.out = slot.out[sent:]
        if not slot.out:
            sel.modify(slot.sock, selectors.EVENT_READ, slot)

    def finish(slot: _Slot, error: str | None = None) -> None:
        if error:
            errors[error] += 1
            drop(slot)
        else:
            latencies.append(time.perf_counter() - slot.started)
            statuses[slot.status] += 1
            if keep_bodies:
                bodies.append(bytes(slot.buf[slot.header_end :]))
            if slot.close_after:
                drop(slot)
        if requests:
            start(slot)
        elif slot.sock is not None:
            drop(slot)

    def receive(slot: _Slot) -> None:
        assert slot.sock is not None
        try:
            chunk = slot.sock.recv(262144)
        except BlockingIOError:
            return
        except OSError as exc:
            finish(slot, type(exc).__name__)
            return
        if not chunk:
            if slot.header_end >= 0 and slot.length is None:
                slot.close_after = True
                finish(slot)
            else:
                finish(slot, "closed before the response ended")
            return
        slot.buf += chunk
        if slot.header_end < 0:
            end = slot.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            slot.header_end = end + 4
            head = bytes(slot.buf[:end]).decode("latin-1").split("\r\n")
            slot.status = int(head[0].split(" ", 2)[1])
            for line in head[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    slot.length = int(value)
                elif name == "connection" and value.strip().lower() == "close":
                    slot.close_after = True
        if slot.length is not None and len(slot.buf) - slot.header_end >= slot.length:
            finish(slot)

    groups = {"server": job.get("server_pids", []), "postgres": job.get("postgres_pids", [])}
    cpu_before = cpu_snapshot()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    began = time.perf_counter()
    slots = [_Slot() for _ in range(min(job["concurrency"], total))]
    for slot in slots:
        start(slot)
    done_by = began + timeout + total  # a generous guard against a hung server
    while sel.get_map():
        if time.perf_counter() > done_by:
            errors["timed out"] += len(sel.get_map())
            break
        for key, mask in sel.select(timeout=timeout):
            slot = key.data
            if mask & selectors.EVENT_WRITE:
                send(slot)
            elif mask & selectors.EVENT_READ:
                receive(slot)
    elapsed = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu_after = cpu_snapshot()

    created = statuses.get(201, 0)
    if keep_bodies:
        created = 0
        for body in bodies:
            try:
                results = json.loads(body)["results"]
            except (ValueError, KeyError, TypeError):
                continue
            created += sum(1 for r in results if r.get("status") == "created")
    return {
        "requests": total,
        "seconds": elapsed,
        "latencies": latencies,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "errors": dict(errors),
        "created": created,
        "connections": connections,
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
