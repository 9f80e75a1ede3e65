"""The life of a planner's job (an export, a priority run): sent to a worker, started,
failed; and those whose worker never finished them.

A job is queued by ``job_enqueue`` once the request's transaction commits, or failed at
once when the broker cannot take it. Its worker runs it inside ``job_running``, which
fails it with the message of a ``JobFailed``, or with a general one for anything
unexpected, and lets a lost database connection through so that the task tries again.

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
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import OperationalError
from django.db.models import Q
from django.utils import timezone

from geo.models import Export, Job, JobStatus, PriorityRun

logger = logging.getLogger(__name__)

ABANDONED_MESSAGE = (
    "The worker stopped before it finished this: ask for it again. If it happens again, "
    "tell whoever runs the service."
)


class JobFailed(Exception):
    """A job that cannot be done; its message is shown to the planner."""


def job_name(job: Job) -> str:
    """How the logs name a job: ``export 12``, ``priority run 7``."""
    return f"{job._meta.verbose_name} {job.pk}"


def job_enqueue(job: Job, task: Any, *, queue: str, unavailable: str) -> None:
    """Sends the job to a worker (``task``, a Celery task taking its id); when the broker
    cannot take it, fails the job with ``unavailable``."""
    try:
        task.apply_async(args=(job.pk,), queue=queue)
    except Exception as exc:  # the broker (Redis) is down or unreachable
        logger.warning("%s not queued, broker unavailable: %s", job_name(job), exc)
        job_fail(job, unavailable)


def job_start(job: Job, *also: str) -> None:
    """Marks the job running from now, at no progress, saving ``also`` fields with it."""
    job.status = JobStatus.RUNNING
    job.started_at = timezone.now()
    job.progress = 0.0
    job.save(update_fields=["status", "started_at", "progress", *also])


def job_ready(job: Job, *also: str) -> None:
    """Marks the job done, saving ``also`` fields (its answer) with it."""
    job.status = JobStatus.READY
    job.progress = 1.0
    job.finished_at = timezone.now()
    job.error = ""
    job.save(update_fields=["status", "progress", "finished_at", "error", *also])


def job_fail(job: Job, message: str) -> None:
    job.status = JobStatus.FAILED
    job.error = message
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "error", "finished_at"])
    logger.warning("%s failed: %s", job_name(job), message)


@contextmanager
def job_running(job: Job, *, unexpected: str) -> Iterator[None]:
    """Fails the job when the work inside raises: with the message of a JobFailed, else
    with ``unexpected`` (and the traceback in the log). A lost database connection is
    raised on, for the task to try again."""
    try:
        yield
    except JobFailed as failure:
        job_fail(job, str(failure))
    except OperationalError:
        raise
    except Exception:
        logger.exception("%s failed", job_name(job))
        job_fail(job, unexpected)


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
