"""The tiles' load generator: a separate, single-threaded process that keeps N GET
requests in flight (one ``selectors`` loop over non-blocking sockets, as ``bench._load``).

Every request is built before the clock starts; a connection is reused while the server
keeps it alive (uvicorn does, gunicorn's sync workers do not). Run as
``python -m bench._tiles_load`` with a JSON job on stdin (host, port, paths, headers,
count, concurrency); prints a JSON result on stdout: per-path latencies, statuses and
body sizes.
"""

import json
import selectors
import socket
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Slot:
    sock: socket.socket | None = None
    index: int = 0
    out: memoryview = field(default_factory=lambda: memoryview(b""))
    buf: bytearray = field(default_factory=bytearray)
    started: float = 0.0
    header_end: int = -1
    length: int | None = None
    status: int = 0
    close_after: bool = False


def _request(host: str, port: int, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Accept: */*"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def run(job: dict[str, Any]) -> dict[str, Any]:
    host, port = job["host"], job["port"]
    paths: list[str] = job["paths"]
    built = [_request(host, port, path, job.get("headers", {})) for path in paths]
    queue = deque(i % len(paths) for i in range(job["count"]))
    total = len(queue)
    timeout = float(job.get("timeout", 60.0))
    sel = selectors.DefaultSelector()
    latencies: list[float] = []
    sizes: list[int] = []
    which: list[int] = []
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()

    def start(slot: _Slot) -> None:
        slot.index = queue.popleft()
        slot.started = time.perf_counter()
        slot.out = memoryview(built[slot.index])
        slot.buf = bytearray()
        slot.header_end, slot.length, slot.status, slot.close_after = -1, None, 0, False
        if slot.sock is None:
            sock = socket.create_connection((host, port))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(False)
            slot.sock = sock
            sel.register(sock, selectors.EVENT_WRITE, slot)
        else:
            sel.modify(slot.sock, selectors.EVENT_WRITE, slot)

    def drop(slot: _Slot) -> None:
        if slot.sock is not None:
            sel.unregister(slot.sock)
            slot.sock.close()
            slot.sock = None

    def finish(slot: _Slot, error: str | None = None) -> None:
        if error:
            errors[error] += 1
            drop(slot)
        else:
            latencies.append(time.perf_counter() - slot.started)
            statuses[slot.status] += 1
            sizes.append(len(slot.buf) - slot.header_end)
            which.append(slot.index)
            if slot.close_after:
                drop(slot)
        if queue:
            start(slot)
        elif slot.sock is not None:
            drop(slot)

    def send(slot: _Slot) -> None:
        assert slot.sock is not None
        try:
            sent = slot.sock.send(slot.out)
        except BlockingIOError:
            return
        except OSError as exc:
            finish(slot, type(exc).__name__)
            return
        slot.out = slot.out[sent:]
        if not slot.out:
            sel.modify(slot.sock, selectors.EVENT_READ, slot)

    def receive(slot: _Slot) -> None:
        assert slot.sock is not None
        try:
            chunk = slot.sock.recv(1 << 20)
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
            chunked = False
            for line in head[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    slot.length = int(value)
                elif name == "connection" and value.strip().lower() == "close":
                    slot.close_after = True
                elif name == "transfer-encoding" and "chunked" in value.lower():
                    chunked = True
            if slot.status in (204, 304) and slot.length is None:
                slot.length = 0
            if chunked:
                slot.length = None
        if slot.length is None and slot.buf.endswith(b"0\r\n\r\n"):
            finish(slot)  # the end of a chunked body
        elif slot.length is not None and len(slot.buf) - slot.header_end >= slot.length:
            finish(slot)

    began = time.perf_counter()
    for slot in [_Slot() for _ in range(min(job["concurrency"], total))]:
        start(slot)
    done_by = began + timeout + total
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
    return {
        "requests": total,
        "seconds": time.perf_counter() - began,
        "latencies": latencies,
        "sizes": sizes,
        "paths": which,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "errors": dict(errors),
    }


def main() -> None:
    json.dump(run(json.load(sys.stdin)), sys.stdout)


if __name__ == "__main__":
    main()
