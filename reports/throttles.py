"""Per-client throttling of report intake, and the areas' version, in one Redis round trip."""

import functools
import hashlib
import itertools
import logging
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from redis.connection import ConnectionInterface
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from geo.access import SCOPE_VERSION_KEY
from geo.areas import LOCATOR_EPOCH_KEY

logger = logging.getLogger(__name__)

SALT_SECONDS = 2 * 86400
_DURATIONS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

# One round trip per request: find (or make) today's salt, hash the address with it, and
# count the request in a window that starts with the client's first request. The address
# passes through Redis's memory but only its salted hash is ever stored, as a key name.
# The same trip reads which areas are current (geo.areas.area_locator): the scope version
# that every change to an area moves on, after an epoch made afresh whenever Redis has lost
# it (a new or emptied Redis), so that a version counted again from 1 is never taken for an
# old one.
_COUNT_SCRIPT = """
local salt = redis.call('GET', KEYS[1])
if not salt then
  redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2])
  salt = redis.call('GET', KEYS[1])
end
local key = KEYS[2] .. redis.sha1hex(salt .. ':' .. ARGV[3])
local count = redis.call('INCR', key)
if count == 1 then redis.call('EXPIRE', key, ARGV[4]) end
local epoch = redis.call('GET', KEYS[4])
if not epoch then
  redis.call('SET', KEYS[4], ARGV[5], 'NX')
  epoch = redis.call('GET', KEYS[4])
end
local version = redis.call('GET', KEYS[3]) or '0'
return {count, redis.call('TTL', key), epoch .. ':' .. version}
"""
# The name Redis knows the script by (EVALSHA), not a secret.
_COUNT_SHA = hashlib.sha1(_COUNT_SCRIPT.encode(), usedforsecurity=False).hexdigest()


def parse_rate(rate: str) -> tuple[int, int]:
    """``20/min`` as (20, 60)."""
    count, period = rate.split("/")
    return int(count), _DURATIONS[period[0]]


@dataclass(frozen=True)
class Admission:
    """Whether this request may go ahead; if not, in how many seconds. ``areas_version`` is
    None when Redis could not be asked."""

    allowed: bool
    retry_after: int | None = None
    areas_version: str | None = None


# One connection to Redis per thread (gunicorn's sync workers have one thread), used
# directly: redis-py's client, pool and retry layers cost several times the round trip.
_local = threading.local()


def _connection(url: str) -> ConnectionInterface:
    connections: dict[str, ConnectionInterface] = _local.__dict__.setdefault("connections", {})
    found = connections.get(url)
    if found is None:
        pool = redis.ConnectionPool.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        found = connections[url] = pool.make_connection()
    return found


def _run_script(url: str, day: str, args: list[bytes]) -> list[Any]:
    connection = _connection(url)
    try:
        connection.send_packed_command([_command(day, "EVALSHA", args)], check_health=False)
        return connection.read_response()
    except redis.exceptions.NoScriptError:
        # Redis restarted or its scripts were flushed: EVAL loads the script again.
        connection.send_packed_command([_command(day, "EVAL", args)], check_health=False)
        return connection.read_response()
    except BaseException:
        connection.disconnect()  # the next request connects again
        raise


def _command(day: str, name: str, args: list[bytes]) -> bytes:
    """The script's command in Redis's protocol (RESP): the part that stays the same all
    day written once, as redis-py's pack_command would write it (which took a tenth of the
    admission's time)."""
    return _command_head(day, name) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


@functools.lru_cache(maxsize=4)
def _command_head(day: str, name: str) -> bytes:
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
    keys = [
        f"{prefix}:throttle-salt:{day}",
        f"{prefix}:throttle:reports:",
        cache.make_key(SCOPE_VERSION_KEY),
        cache.make_key(LOCATOR_EPOCH_KEY),
    ]
    script = _COUNT_SHA if name == "EVALSHA" else _COUNT_SCRIPT
    # This process's offer of a salt for the day, taken only if no other process's is there.
    salt_offer = secrets.token_hex(16)
    head = [name, script, str(len(keys)), *keys, salt_offer, str(SALT_SECONDS)]
    parts = [part.encode() for part in head]
    return b"*%d\r\n" % (len(parts) + _REQUEST_ARGS) + b"".join(
        b"$%d\r\n%s\r\n" % (len(part), part) for part in parts
    )


# Arguments that change with each request: the client, the window, an epoch offer.
_REQUEST_ARGS = 3


def client_ident(request: HttpRequest | Request) -> str:
    """The client's address, as DRF's throttles see it (``NUM_PROXIES``)."""
    return str(BaseThrottle().get_ident(request))  # type: ignore[arg-type]


def intake_admit(request: HttpRequest | Request) -> Admission:
    """Counts this request against its client's allowance (``REPORT_THROTTLE_RATE``).

    The key is a hash of the client address with a random salt that is new each UTC day
    and lives only in Redis (for two days), so yesterday's keys cannot be linked to an
    address once the salt has gone. With Redis down every request is let through: losing
    a report is worse than a burst.
    """
    limit, duration = parse_rate(settings.REPORT_THROTTLE_RATE)
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    try:
        count, ttl, areas_version = _run_script(
            settings.REDIS_URL,
            day,
            [
                client_ident(request).encode(),
                str(duration).encode(),
                f"{_EPOCH_OFFER}.{next(_epoch_offers)}".encode(),
            ],
        )
    except redis.RedisError as exc:
        logger.warning("throttle skipped, Redis unavailable: %s", exc.__class__.__name__)
        return Admission(True)
    if int(count) <= limit:
        return Admission(True, areas_version=areas_version.decode())
    return Admission(False, retry_after=max(int(ttl), 1), areas_version=areas_version.decode())


# An epoch nobody offered before: this process's own random part, and a count.
_EPOCH_OFFER = f"{secrets.token_hex(8)}"
_epoch_offers = itertools.count()


class ReportThrottle(BaseThrottle):
    """``intake_admit`` as a DRF throttle; ``areas_version`` is what Redis said."""

    def __init__(self) -> None:
        self.retry_after: int | None = None
        self.areas_version: str | None = None

    def allow_request(self, request: Request, view: APIView) -> bool:
        admission = intake_admit(request)
        self.retry_after = admission.retry_after
        self.areas_version = admission.areas_version
        return admission.allowed

    def wait(self) -> float | None:
        return self.retry_after
