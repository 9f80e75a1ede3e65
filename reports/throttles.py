import hashlib
import logging
import secrets
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

logger = logging.getLogger(__name__)


def _daily_salt() -> str:
    """A random salt shared by every process through the cache, new each UTC day.

    It lives only in the cache (two days, then it expires), so yesterday's keys cannot
    be linked to an address once it has gone.
    """
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    return str(cache.get_or_set(f"throttle-salt:{day}", secrets.token_hex, 2 * 86400))


class ReportThrottle(SimpleRateThrottle):
    """Per-client limit on report intake (``REPORT_THROTTLE_RATE``).

    The key is a salted hash of the client address, kept only in the cache. With the cache
    down the throttle lets requests through: losing a report is worse than a burst.
    """

    scope = "reports"

    def get_rate(self) -> str:
        return settings.REPORT_THROTTLE_RATE

    def get_cache_key(self, request: Request, view: APIView) -> str:
        ident = self.get_ident(request)
        digest = hashlib.sha256(f"{_daily_salt()}:{ident}".encode()).hexdigest()[:32]
        return f"throttle:reports:{digest}"

    def allow_request(self, request: Request, view: APIView) -> bool:
        # The rate is read per request so that a changed setting applies (tests, reloads).
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        try:
            return super().allow_request(request, view)
        except Exception as exc:  # the cache is down or unreachable
            logger.warning("throttle skipped, cache unavailable: %s", exc.__class__.__name__)
            return True
