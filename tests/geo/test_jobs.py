"""Exports and priority runs that no worker will finish are failed, saying to ask again."""

import datetime as dt
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from geo.jobs import ABANDONED_MESSAGE
from geo.models import Export, PriorityRun
from geo.tasks import jobs_fail_abandoned_task
from streetsafe.celery import app
from tests.cast import client_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("west_mercia")]


def export_of(planner: Any, *, status: str, age: dt.timedelta, started: bool) -> Export:
    then = timezone.now() - age
    export = Export.objects.create(
        user=planner,
        organisation=planner.planner_profile.organisation,
        layer=Export.Layer.REPORTS,
        format=Export.Format.CSV,
        status=status,
        started_at=then if started else None,
    )
    Export.objects.filter(pk=export.pk).update(created_at=then)
    return export


def run_of(planner: Any, *, status: str, age: dt.timedelta) -> PriorityRun:
    run = PriorityRun.objects.create(
        user=planner,
        organisation=planner.planner_profile.organisation,
        parameters={"intervention": "lighting", "budget": 5000},
        key="k",
        status=status,
    )
    PriorityRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - age)
    return run


def test_jobs_left_queued_or_running_too_long_are_failed_and_say_so(force_planner):
    long_ago = dt.timedelta(seconds=settings.JOB_ABANDONED_SECONDS + 60)
    lately = dt.timedelta(seconds=settings.JOB_ABANDONED_SECONDS - 60)
    running = export_of(force_planner, status="running", age=long_ago, started=True)
    queued = export_of(force_planner, status="queued", age=long_ago, started=False)
    busy = export_of(force_planner, status="running", age=lately, started=True)
    lost_run = run_of(force_planner, status="queued", age=long_ago)
    fresh_run = run_of(force_planner, status="running", age=lately)

    assert jobs_fail_abandoned_task.apply().get() == 3

    client = client_for(force_planner)
    for export in (running, queued):
        body = client.get(f"/api/v1/exports/{export.pk}").json()
        assert body["status"] == "failed"
        assert body["error"] == ABANDONED_MESSAGE
    assert client.get(f"/api/v1/exports/{busy.pk}").json()["status"] == "running"
    lost = client.get(f"/api/v1/priorities/runs/{lost_run.pk}").json()
    assert (lost["status"], lost["error"]) == ("failed", ABANDONED_MESSAGE)
    assert client.get(f"/api/v1/priorities/runs/{fresh_run.pk}").json()["status"] == "running"
    # Once failed they stay as they are.
    assert jobs_fail_abandoned_task.apply().get() == 0


def test_beat_runs_the_sweep_with_a_registered_task():
    entry = settings.CELERY_BEAT_SCHEDULE["fail-abandoned-jobs"]

    assert entry["task"] in app.tasks
    schedule = entry["schedule"]
    assert isinstance(schedule, int) and schedule < settings.JOB_ABANDONED_SECONDS
