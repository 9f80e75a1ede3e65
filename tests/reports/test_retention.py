"""Retention: free text is purged after RETENTION_DAYS; the report and its counts stay."""

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from reports.models import ModerationDecision, Report
from reports.services import report_moderate, reports_purge_expired
from tests.conftest import a_report
from tests.support.celery import celery_worker_queue

with_areas = pytest.mark.usefixtures("west_mercia")


@pytest.fixture(autouse=True)
def _unthrottled(settings):
    # Not a test of the throttle, whose counters live in a Redis that other test runs share.
    settings.REPORT_THROTTLE_RATE = "10000/min"


def submit(reporter, **overrides) -> uuid.UUID:
    body = a_report(**overrides)
    response = reporter.post("/api/v1/reports", body, format="json")
    assert response.status_code == 201, response.content
    return uuid.UUID(body["id"])


def received_days_ago(report_id: uuid.UUID, days: float) -> None:
    Report.objects.filter(pk=report_id).update(received_at=timezone.now() - timedelta(days=days))


@with_areas
@pytest.mark.django_db
def test_it_blanks_expired_text_and_keeps_the_report_and_its_reasons(reporter, moderator):
    old = submit(reporter, reasons=["followed", "no_cctv"], description="Call 07700 900123")
    approved = submit(reporter, description="Old approved text")
    report_moderate(report_ids=[approved], moderator=moderator, decision="approved")
    for report_id in (old, approved):
        received_days_ago(report_id, settings.RETENTION_DAYS + 1)

    assert reports_purge_expired() == 2

    report = Report.objects.get(pk=old)
    assert (report.description, report.description_redacted) == ("", "")
    assert report.reasons == ["followed", "no_cctv"]
    assert report.area is not None and report.severity == 2
    # No text is left to moderate or to show.
    assert report.text_state == Report.TextState.NONE
    assert Report.objects.get(pk=approved).text_state == Report.TextState.NONE
    # Who decided stays on record.
    assert ModerationDecision.objects.filter(report_id=approved).count() == 1
    assert Report.objects.count() == 2


@with_areas
@pytest.mark.django_db
def test_it_leaves_text_inside_the_retention_period_alone(reporter):
    recent = submit(reporter, description="Recent text, WR1 2AB")
    almost = submit(reporter, description="Nearly expired text")
    received_days_ago(almost, settings.RETENTION_DAYS - 1)

    assert reports_purge_expired() == 0

    assert Report.objects.get(pk=recent).description == "Recent text, WR1 2AB"
    assert Report.objects.get(pk=recent).description_redacted == "Recent text, [postcode removed]"
    assert Report.objects.get(pk=almost).description == "Nearly expired text"
    assert Report.objects.get(pk=almost).text_state == Report.TextState.PENDING


@with_areas
@pytest.mark.django_db
def test_it_counts_only_reports_that_still_had_text_so_a_second_run_is_a_no_op(reporter):
    with_text = submit(reporter, description="Expired text")
    without_text = submit(reporter)
    for report_id in (with_text, without_text):
        received_days_ago(report_id, settings.RETENTION_DAYS + 30)

    assert reports_purge_expired() == 1
    assert reports_purge_expired() == 0


@with_areas
@pytest.mark.django_db
def test_it_measures_the_period_from_the_given_time(reporter):
    report_id = submit(reporter, description="Text")

    assert reports_purge_expired(now=timezone.now() + timedelta(days=1)) == 0
    assert (
        reports_purge_expired(now=timezone.now() + timedelta(days=settings.RETENTION_DAYS + 1)) == 1
    )
    assert Report.objects.get(pk=report_id).description == ""


@pytest.fixture
def celery_queue() -> Iterator[str]:
    """A real Celery worker, in a thread, consuming a queue of its own on the tests' Redis."""
    import reports.tasks  # noqa: F401 - registers the task with the app

    with celery_worker_queue("test-retention") as queue:
        yield queue


@pytest.mark.slow
@with_areas
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_purges_expired_text_when_the_task_is_sent(reporter, celery_queue):
    from reports.tasks import reports_purge_expired_task

    expired = submit(reporter, description="Expired, 07700 900123")
    recent = submit(reporter, description="Recent")
    received_days_ago(expired, settings.RETENTION_DAYS + 1)

    result = reports_purge_expired_task.apply_async(queue=celery_queue)

    assert result.get(timeout=30) == 1
    result.forget()
    report = Report.objects.get(pk=expired)
    assert (report.description, report.description_redacted) == ("", "")
    assert report.text_state == Report.TextState.NONE
    assert Report.objects.get(pk=recent).description == "Recent"


def test_the_task_is_the_one_beat_schedules():
    from reports.tasks import reports_purge_expired_task

    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}

    assert reports_purge_expired_task.name in scheduled


def test_the_task_retries_when_the_database_is_unavailable():
    from django.db import OperationalError

    from reports.tasks import reports_purge_expired_task

    task: Any = reports_purge_expired_task
    assert OperationalError in task.autoretry_for
    assert task.retry_backoff
