"""A report's weight in a score: its severity's weight, halved every half-life since it
was felt (received, where the reporter did not say when); in SQL, on ``reports_report r``.

Parameters: ``weight1``, ``weight2``, ``weight3`` (severity 1, 2 or none, 3),
``half_life_seconds`` and ``now``, as ``weight_parameters`` gives them.
"""

from datetime import datetime
from typing import Any

from django.conf import settings

WEIGHT_SQL = """(
    CASE r.severity WHEN 1 THEN %(weight1)s WHEN 3 THEN %(weight3)s ELSE %(weight2)s END
    -- date_part, not extract: extract's numeric is many times slower.
    * power(0.5, greatest(
        date_part('epoch', %(now)s - coalesce(r.felt_at, r.received_at)), 0
    ) / %(half_life_seconds)s)
)"""


def weight_parameters(now: datetime) -> dict[str, Any]:
    weights = settings.HOTSPOT_SEVERITY_WEIGHTS
    return {
        "now": now,
        "weight1": weights[0],
        "weight2": weights[1],
        "weight3": weights[2],
        "half_life_seconds": settings.HOTSPOT_HALF_LIFE_DAYS * 86400.0,
    }
