"""The tiles' load generator: a separate, single-threaded process that keeps N GET
requests in flight (``bench._http``, as ``bench._load``).

Every request is built before the clock starts; a connection is reused while the server
keeps it alive (uvicorn does, gunicorn's sync workers do not). Run as
``python -m bench._tiles_load`` with a JSON job on stdin (host, port, paths, headers,
count, concurrency); prints a JSON result on stdout: per-path latencies, statuses and
body sizes.
"""

import json
import sys
from typing import Any

from bench._http import drive


def _request(host: str, port: int, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Accept: */*"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def run(job: dict[str, Any]) -> dict[str, Any]:
    host, port = job["host"], job["port"]
    paths: list[str] = job["paths"]
    built = [_request(host, port, path, job.get("headers", {})) for path in paths]
    answered = drive(
        [built[i % len(paths)] for i in range(job["count"])],
        host=host,
        port=port,
        concurrency=job["concurrency"],
        timeout=float(job.get("timeout", 60.0)),
        read_size=1 << 20,  # a tile can be large
    )
    return {
        "requests": answered.requests,
        "seconds": answered.seconds,
        "latencies": answered.latencies,
        "sizes": answered.sizes,
        "paths": [i % len(paths) for i in answered.indexes],
        "statuses": answered.status_counts(),
        "errors": dict(answered.errors),
    }


def main() -> None:
    json.dump(run(json.load(sys.stdin)), sys.stdout)


if __name__ == "__main__":
    main()
