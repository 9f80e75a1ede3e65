"""The load generators' HTTP client (``bench._load``, ``bench._tiles_load``): one thread,
one ``selectors`` loop over non-blocking sockets, no HTTP library.

Each of ``concurrency`` clients sends its next request as soon as its last one is answered
(a closed loop). The requests are built by the caller before the clock starts. A connection
is reused while the server keeps it alive (uvicorn does); gunicorn's sync workers close it
after each response, so then each request opens a new TCP connection, inside its measured
latency, as a real client would.
"""

import selectors
import socket
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Responses:
    """What came back, one entry per answered request in the order the answers ended."""

    requests: int
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    # Which request each answer was for: its place in the list given to ``drive``.
    indexes: list[int] = field(default_factory=list)
    # Body bytes as received (a chunked body with its framing).
    sizes: list[int] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)  # only when asked for
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    connections: int = 0

    def status_counts(self) -> dict[str, int]:
        """The statuses as the load generators print them: JSON keys, in order."""
        return {str(k): v for k, v in sorted(self.statuses.items())}


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


def drive(
    requests: Sequence[bytes],
    *,
    host: str,
    port: int,
    concurrency: int,
    timeout: float,
    sources: Sequence[str] = (),
    keep_bodies: bool = False,
    read_size: int = 262144,
) -> Responses:
    """Sends every request in ``requests`` (whole HTTP/1.1 requests) to host:port, at most
    ``concurrency`` at a time, and times each from its first byte sent to its last byte
    received. ``sources``: each new connection comes from the next of these local
    addresses, in turn. ``read_size``: the bytes asked of each ``recv``; a large one costs
    more to allocate, which counts when the answers are small."""
    address = (host, port)
    queue = deque(range(len(requests)))
    next_source = 0
    sel = selectors.DefaultSelector()
    out = Responses(requests=len(requests))

    def start(slot: _Slot) -> None:
        nonlocal next_source
        slot.index = queue.popleft()
        slot.started = time.perf_counter()
        slot.out = memoryview(requests[slot.index])
        slot.buf = bytearray()
        slot.header_end, slot.length, slot.status, slot.close_after = -1, None, 0, False
        if slot.sock is None:
            # Loopback connect completes in the kernel's accept queue: no need to wait.
            if sources:
                sock = socket.create_connection(address, source_address=(sources[next_source], 0))
                next_source = (next_source + 1) % len(sources)
            else:
                sock = socket.create_connection(address)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(False)
            slot.sock = sock
            out.connections += 1
            sel.register(sock, selectors.EVENT_WRITE, slot)
        else:
            sel.modify(slot.sock, selectors.EVENT_WRITE, slot)
        send(slot)

    def drop(slot: _Slot) -> None:
        if slot.sock is not None:
            sel.unregister(slot.sock)
            slot.sock.close()
            slot.sock = None

    def finish(slot: _Slot, error: str | None = None) -> None:
        if error:
            out.errors[error] += 1
            drop(slot)
        else:
            out.latencies.append(time.perf_counter() - slot.started)
            out.statuses[slot.status] += 1
            out.sizes.append(len(slot.buf) - slot.header_end)
            out.indexes.append(slot.index)
            if keep_bodies:
                out.bodies.append(bytes(slot.buf[slot.header_end :]))
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
            chunk = slot.sock.recv(read_size)
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
    for slot in [_Slot() for _ in range(min(concurrency, len(requests)))]:
        start(slot)
    done_by = began + timeout + len(requests)  # a generous guard against a hung server
    while sel.get_map():
        if time.perf_counter() > done_by:
            out.errors["timed out"] += len(sel.get_map())
            break
        for key, mask in sel.select(timeout=timeout):
            slot = key.data
            if mask & selectors.EVENT_WRITE:
                send(slot)
            elif mask & selectors.EVENT_READ:
                receive(slot)
    out.seconds = time.perf_counter() - began
    return out
