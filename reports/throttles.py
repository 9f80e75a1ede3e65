import logging
import secrets
from datetime import UTC, datetime
from functools import cache

import redis
from django.conf import settings
from redis.commands.core import Script
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

logger = logging.getLogger(__name__)

SALT_SECONDS = 2 * 86400
_DURATIONS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

# One round trip per request: find (or make) today's salt, hash the address with it, and
# count the request in a window that starts with the client's first request. The address
# passes through Redis's memory but only its salted hash is ever stored, as a key name.
_COUNT_SCRIPT = """
local salt = redis.call('GET', KEYS[1])
if not salt then
  redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2])
  salt = redis.call('GET', KEYS[1])
end
local key = KEYS[2] .. redis.sha1hex(salt .. ':' .. ARGV[3])
local count = redis.call('INCR', key)
if count == 1 then redis.call('EXPIRE', key, ARGV[4]) end
return {count, redis.call('TTL', key)}
"""


@cache
def _script(url: str) -> Script:
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    return client.register_script(_COUNT_SCRIPT)


def parse_rate(rate: str) -> tuple[int, int]:
    """``20/min`` as (20, 60)."""
    count, period = rate.split("/")
    return int(count), _DURATIONS[period[0]]


class ReportThrottle(BaseThrottle):
    """Per-client limit on report intake (``REPORT_THROTTLE_RATE``).

    The key is a hash of the client address with a random salt that is new each UTC day
    and lives only in Redis (for two days), so yesterday's keys cannot be linked to an
    address once the salt has gone. With Redis down the throttle lets requests through:
    losing a report is worse than a burst.
    """

    def __init__(self) -> None:
        self.retry_after: int | None = None

    def allow_request(self, request: Request, view: APIView) -> bool:
        limit, duration = parse_rate(settings.REPORT_THROTTLE_RATE)
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
        try:
            count, ttl = _script(settings.REDIS_URL)(
                keys=[f"{prefix}:throttle-salt:{day}", f"{prefix}:throttle:reports:"],
                args=[secrets.token_hex(16), SALT_SECONDS, self.get_ident(request), duration],
            )
        except redis.RedisError as exc:
            logger.warning("throttle skipped, Redis unavailable: %s", exc.__class__.__name__)
            return True
        if int(count) <= limit:
            return True
        self.retry_after = max(int(ttl), 1)
        return False

    def wait(self) -> float | None:
        return self.retry_after
