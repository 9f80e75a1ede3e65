"""Typed readers for settings that come from the environment.

Each reader refuses a bad value with ImproperlyConfigured naming the variable, so a
misconfigured deployment stops at start-up instead of misbehaving later.
"""

import os
import re

from django.core.exceptions import ImproperlyConfigured

_RATE = re.compile(r"^\d+/(s|sec|second|m|min|minute|h|hour|d|day)$")


def envstr(name: str, default: str) -> str:
    return os.environ.get(name, default)


def envbool(name: str, default: str) -> bool:
    value = os.environ.get(name, default).strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def envint(name: str, default: str, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name, default)
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}")
    return value


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def envrate(name: str, default: str) -> str:
    """A DRF throttle rate such as ``20/min``."""
    value = os.environ.get(name, default).strip()
    if not _RATE.match(value):
        raise ImproperlyConfigured(
            f"{name} must be a rate such as 20/min (a number, '/', then s, min, hour or day), "
            f"not {value!r}"
        )
    return value


def envurl(name: str, default: str, *, schemes: tuple[str, ...]) -> str:
    value = os.environ.get(name, default).strip()
    scheme = value.split("://", 1)[0] if "://" in value else ""
    if scheme not in schemes:
        raise ImproperlyConfigured(
            f"{name} must be a URL starting with {' or '.join(s + '://' for s in schemes)}, "
            f"not {value!r}"
        )
    return value


def envfloat(name: str, default: str, *, minimum: float | None = None) -> float:
    raw = os.environ.get(name, default)
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {raw!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ImproperlyConfigured(f"{name} must be a finite number, not {raw!r}")
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}")
    return value


def envnumbers(name: str, default: str, *, count: int | None = None) -> list[float]:
    """A comma-separated list of positive numbers, optionally of a fixed length."""
    raw = os.environ.get(name, default)
    try:
        values = [float(item) for item in raw.split(",") if item.strip()]
    except ValueError:
        raise ImproperlyConfigured(
            f"{name} must be numbers separated by commas, not {raw!r}"
        ) from None
    if not values or any(not (0 < value < float("inf")) for value in values):
        raise ImproperlyConfigured(f"{name} must be positive numbers, not {raw!r}")
    if count is not None and len(values) != count:
        raise ImproperlyConfigured(f"{name} must have {count} values, not {len(values)}")
    return values
