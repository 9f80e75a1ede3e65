"""Celery tasks for the analysis: thin shells over one service each, safe to run twice."""

import logging
from typing import Any

from celery import shared_task
from django.db import OperationalError

from geo.hotspots.rebuild import hotspots_rebuild
from geo.hotspots.schedule import hotspots_rebuild_soon, rebuild_lock

logger = logging.getLogger(__name__)

# A database restart or failover: the task starts again from the beginning, after a while.
RETRY_ON_DATABASE_ERRORS: dict[str, Any] = {
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 5,
}


@shared_task(
    name="geo.tasks.hotspots_rebuild_task",
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=5,
)
def hotspots_rebuild_task() -> int | None:
    """Rebuilds the hotspots unless another worker is; returns the new generation's id.

    When another worker holds the lock, the reports that queued this rebuild may have come
    after that rebuild began, so one more is queued for after it.
    """
    with rebuild_lock() as acquired:
        if not acquired:
            logger.info("a hotspot rebuild is running elsewhere; queued one after it")
            hotspots_rebuild_soon()
            return None
        return hotspots_rebuild().pk


@shared_task(
    name="geo.tasks.export_run_task",
    **RETRY_ON_DATABASE_ERRORS,
)
def export_run_task(export_id: int) -> str:
    """Writes a planner's export; returns its status (ready or failed). Safe to run twice."""
    from geo.exports import export_run

    return export_run(export_id=export_id).status


@shared_task(
    name="geo.tasks.exports_purge_expired_task",
    **RETRY_ON_DATABASE_ERRORS,
)
def exports_purge_expired_task() -> int:
    """Deletes expired export files, keeping their records; returns how many expired."""
    from geo.exports import exports_purge_expired

    return exports_purge_expired()


@shared_task(
    name="geo.tasks.jobs_fail_abandoned_task",
    **RETRY_ON_DATABASE_ERRORS,
)
def jobs_fail_abandoned_task() -> int:
    """Fails the exports and priority runs no worker will finish; returns how many."""
    from geo.jobs import jobs_fail_abandoned

    return jobs_fail_abandoned()


@shared_task(
    name="geo.tasks.priority_run_task",
    **RETRY_ON_DATABASE_ERRORS,
)
def priority_run_task(run_id: int) -> str:
    """Answers a planner's priorities question; returns its status (ready or failed).
    Safe to run twice."""
    from geo.priorities import priority_run

    return priority_run(run_id=run_id).status
