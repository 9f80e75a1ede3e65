"""When hotspots are rebuilt: debounced after new reports and erasures, one at a time.

Many reports in a burst queue one rebuild, ``HOTSPOT_DEBOUNCE_SECONDS`` after the first.
A Redis key marks "a rebuild is queued"; its value is when that rebuild is due, so a web
process that sees it can skip asking again until then (a report committed before the
rebuild starts is in it). The rebuild clears the key as it starts, so reports that arrive
while it runs queue the next one. A Redis lock keeps two workers from rebuilding at once.
"""

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

QUEUED_KEY = "hotspots:rebuild-queued"
LOCK_KEY = "hotspots:rebuild-lock"
# Longer than any rebuild; a worker that dies holding the lock frees it after this.
LOCK_SECONDS = 1800
# A queued mark outlives its due time by this much, in case its task was lost.
QUEUED_GRACE_SECONDS = 60

# Until when (time.time()) this process knows a rebuild is queued and not yet started.
_queued_until = 0.0


@cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=2)


def redis_client() -> redis.Redis:
    return _client(settings.REDIS_URL)


def hotspots_rebuild_soon(*, enqueue: Callable[[int], object] | None = None) -> bool:
    """Queues a rebuild in ``HOTSPOT_DEBOUNCE_SECONDS`` unless one is queued already.

    Returns True when this call queued it. Costs nothing while this process knows of a
    queued rebuild, and one Redis round trip otherwise. With Redis down it logs and
    returns: the scheduled rebuild picks the change up.
    """
    global _queued_until
    now = time.time()
    if now < _queued_until:
        return False
    delay = settings.HOTSPOT_DEBOUNCE_SECONDS
    due = now + delay
    try:
        previous = redis_client().set(
            QUEUED_KEY,
            f"{due:.3f}",
            nx=True,
            ex=delay + QUEUED_GRACE_SECONDS,
            get=True,
        )
    except redis.RedisError as exc:
        logger.warning("hotspot rebuild not queued, Redis unavailable: %s", exc)
        return False
    if previous is not None:
        # Due a little before the mark says, so that a clock skew between hosts cannot
        # make this process skip a report the queued rebuild will not see.
        _queued_until = float(previous) - 1.0  # type: ignore[arg-type]
        return False
    _queued_until = due - 1.0
    if enqueue is None:
        from geo.tasks import hotspots_rebuild_task

        def enqueue(countdown: int) -> object:
            return hotspots_rebuild_task.apply_async(countdown=countdown)

    try:
        enqueue(delay)
    except Exception as exc:  # the broker is Redis too; the schedule will catch up
        logger.warning("hotspot rebuild not queued, broker unavailable: %s", exc)
        redis_client().delete(QUEUED_KEY)
        _queued_until = 0.0
        return False
    return True


def forget_queued_locally() -> None:
    """Forgets what this process knew of a queued rebuild (tests start each clean)."""
    global _queued_until
    _queued_until = 0.0


@contextmanager
def rebuild_lock(*, wait_seconds: float = 0) -> Iterator[bool]:
    """Holds the rebuild lock; yields False when another worker holds it.

    Clears the queued mark first: reports from now on queue another rebuild.
    """
    client = redis_client()
    client.delete(QUEUED_KEY)
    lock = client.lock(LOCK_KEY, timeout=LOCK_SECONDS)
    acquired = lock.acquire(blocking=wait_seconds > 0, blocking_timeout=wait_seconds or None)
    try:
        yield bool(acquired)
    finally:
        if acquired:
            lock.release()
