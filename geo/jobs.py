"""Exports and priority runs whose worker never finished them.

A worker that dies mid-task (killed, out of memory, its machine gone) leaves its export or
priority run "running" for ever, and one whose message was lost leaves it "queued": the
planner would watch a progress bar that never moves. After ``JOB_ABANDONED_SECONDS`` such a
job is marked failed with a message saying to ask again. The limit is far above the
longest a real job takes (``EXPORT_GDAL_TIMEOUT_SECONDS`` caps the slowest step), so a
job still at work is never failed under its worker; if one were, its worker would still
write the answer when it finished.
"""

import datetime as dt
import logging

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from geo.models import Export, PriorityRun

logger = logging.getLogger(__name__)

ABANDONED_MESSAGE = (
    "The worker stopped before it finished this: ask for it again. If it happens again, "
    "tell whoever runs the service."
)


def jobs_fail_abandoned(*, now: dt.datetime | None = None) -> int:
    """Marks failed every export and priority run queued or running for longer than
    ``JOB_ABANDONED_SECONDS``; returns how many."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=settings.JOB_ABANDONED_SECONDS)
    failed = 0
    for model in (Export, PriorityRun):
        waiting = [model.Status.QUEUED, model.Status.RUNNING]
        abandoned = model.objects.filter(status__in=waiting).filter(
            Q(started_at__lt=cutoff) | Q(started_at__isnull=True, created_at__lt=cutoff)
        )
        count = abandoned.update(
            status=model.Status.FAILED, finished_at=now, error=ABANDONED_MESSAGE
        )
        if count:
            logger.warning(
                "%s %s abandoned by their worker: failed", count, model._meta.verbose_name_plural
            )
        failed += count
    return failed
