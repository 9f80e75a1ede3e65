"""What the benchmarks share: their own database (refused unless its name says it is a
bench's), Django in the bench's process, servers on a free port, the load generators'
processes, and percentiles."""

import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from http.client import HTTPConnection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PYTHON = sys.executable
GUNICORN = str(Path(PYTHON).parent / "gunicorn")
READY_SECONDS = 60


# --- the bench's database and Django ------------------------------------------------------


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def postgresql_url(url: str) -> str:
    """The URL as libpq takes it (Django's is ``postgis://``)."""
    return "postgresql://" + url.split("://", 1)[1]


def bench_database_url(variable: str, default: str, *, suffix: str, why: str) -> str:
    """The bench's database, from ``variable`` or else ``default``; refused unless its name
    ends in ``suffix``, because the bench empties tables in it or drops it (``why``)."""
    url = os.environ.get(variable, default)
    name = database_name(url)
    if not name.endswith(suffix):
        raise SystemExit(f"{variable} must name a database ending in {suffix}, not {name}: {why}")
    return url


def bench_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """This process's environment with the settings a bench's server runs with: DEBUG off
    as in production, but plain HTTP on 127.0.0.1."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        DEBUG="false",
        SECRET_KEY="bench-" + uuid.uuid4().hex,
        SECURE_SSL_REDIRECT="false",
        SECURE_HSTS_SECONDS="0",
        ALLOWED_HOSTS="127.0.0.1",
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="streetsafe.settings",
        **extra,
    )
    return env


def manage(env: Mapping[str, str], *command: str) -> None:
    """``manage.py`` in a process of its own, its output discarded."""
    subprocess.run(
        [PYTHON, "manage.py", *command], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL
    )


def prepare_database(env: Mapping[str, str]) -> None:
    """The database created if missing, migrated, with the West Mercia boundaries: each
    command in a process of its own, before this one sets Django up."""
    manage(env, "ensure_database")
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "load_west_mercia", "--if-missing")


def prepare_database_here() -> None:
    """The same as ``prepare_database``, in this process, once Django is set up."""
    from django.core.management import call_command

    call_command("ensure_database", verbosity=0)
    call_command("migrate", verbosity=0)
    call_command("load_west_mercia", if_missing=True, verbosity=0)


def setup_django(env: Mapping[str, str]) -> None:
    """Django in this process, with ``env`` put into its environment first (and the
    project's settings unless the environment names others)."""
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "streetsafe.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def close_django() -> None:
    from django.db import connection

    connection.close()


def drop_database(url: str) -> None:
    """Drops the database ``url`` names, from the server's ``postgres`` database."""
    import psycopg2
    from psycopg2 import sql

    parts = urlsplit(postgresql_url(url))
    conn = psycopg2.connect(parts._replace(path="/postgres").geturl())
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(database_name(url))
            )
        )
    conn.close()


# --- servers -----------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve(
    command: list[str], env: Mapping[str, str], *, port: int, name: str, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Runs a server that listens on 127.0.0.1:``port``, its output to ``log``; the block
    starts once it answers ``GET /healthz`` with a 200, and the server is stopped however
    the block ends."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + READY_SECONDS
            while not _healthy(port):
                if process.poll() is not None:
                    raise SystemExit(
                        f"{name} exited ({process.returncode}); see {log.relative_to(ROOT)}"
                    )
                if time.monotonic() > deadline:
                    raise SystemExit(f"{name} did not answer /healthz within {READY_SECONDS} s")
                time.sleep(0.2)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _healthy(port: int) -> bool:
    try:
        conn = HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/healthz")
        status = conn.getresponse().status
        conn.close()
    except OSError:
        return False
    return status == 200


@dataclass
class Server:
    port: int
    master: int
    worker_pids: list[int]

    @property
    def pids(self) -> list[int]:
        return [self.master, *self.worker_pids]


@contextlib.contextmanager
def gunicorn(
    env: Mapping[str, str], *, workers: int, log: Path, extra: Sequence[str] = ()
) -> Iterator[Server]:
    """``streetsafe.wsgi`` on gunicorn's sync workers, as scripts/run.sh runs it, on a free
    port; ``extra``: more gunicorn arguments. Yields once every worker has started."""
    port = free_port()
    command = [GUNICORN, "streetsafe.wsgi", "--workers", str(workers)]
    command += ["--bind", f"127.0.0.1:{port}", *extra]
    with serve(command, env, port=port, name="gunicorn", log=log) as process:
        worker_pids = _children(process.pid)
        deadline = time.monotonic() + 10
        while len(worker_pids) < workers and time.monotonic() < deadline:
            time.sleep(0.1)
            worker_pids = _children(process.pid)
        yield Server(port, process.pid, worker_pids)


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(f"/proc/{entry.name}/stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                out.append(int(entry.name))
    return sorted(out)


# --- load and figures --------------------------------------------------------------------


def run_load(module: str, job: dict[str, Any]) -> dict[str, Any]:
    """A load generator (``bench._load``, ``bench._tiles_load``) in a process of its own,
    so that it never shares this one's GIL: the job on its stdin, the result from its
    stdout."""
    done = subprocess.run(
        [PYTHON, "-m", module],
        cwd=ROOT,
        input=json.dumps(job).encode(),
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the load generator failed:\n{done.stderr.decode()}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def percentile(sorted_values: list[float], q: float) -> float:
    """The nearest-rank percentile of values sorted in ascending order (nan if none)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, round(q / 100 * len(sorted_values) + 0.5))
    return sorted_values[min(rank, len(sorted_values)) - 1]
