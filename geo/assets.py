"""Street lights and cameras: importing them, and the version of what is loaded.

Anything drawn or answered from the assets (tiles, coverage, priorities) is cached under
``assets_version()``, which moves on whenever an asset is written or deleted.
"""

from typing import Any

from django.core.cache import cache
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from redis.exceptions import RedisError

from geo.models import Camera, Streetlight

ASSETS_VERSION_KEY = "geo:assets-version"


def assets_version() -> int:
    """A number that changes whenever any street light or camera changes."""
    try:
        return int(cache.get(ASSETS_VERSION_KEY, 0))
    except RedisError:  # without the cache nothing is cached under it either
        return 0


def assets_changed() -> None:
    """Make everything cached under the assets version stale (after an import, say)."""
    try:
        cache.incr(ASSETS_VERSION_KEY)
    except ValueError:  # not set yet
        cache.set(ASSETS_VERSION_KEY, 1, timeout=None)
    except RedisError:
        pass


@receiver(post_save, sender=Streetlight)
@receiver(post_delete, sender=Streetlight)
@receiver(post_save, sender=Camera)
@receiver(post_delete, sender=Camera)
def _asset_changed(**kwargs: Any) -> None:
    assets_changed()
