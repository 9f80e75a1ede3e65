"""Celery tasks for reports: thin shells over one service each, safe to run twice."""

from celery import shared_task
from django.db import OperationalError

from reports.services import reports_purge_expired


@shared_task(
    name="reports.tasks.reports_purge_expired_task",
    # A database restart or failover: try again later rather than wait for the next beat.
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=5,
)
def reports_purge_expired_task() -> int:
    """Purges expired free text; returns how many reports lost theirs."""
    return reports_purge_expired()
