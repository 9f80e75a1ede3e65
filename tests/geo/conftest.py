from collections.abc import Callable, Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from pytest_django.fixtures import Settings as SettingsWrapper

from geo.models import Area
from tests.support.celery import celery_worker_queue


@pytest.fixture
def celery_queue(settings: SettingsWrapper) -> Iterator[str]:
    """A real Celery worker, in a thread, consuming a queue of its own on the tests' Redis:
    the queue that hotspot rebuilds are sent to by the caller, and exports and priority
    runs by the service."""
    import geo.tasks  # noqa: F401 - registers the tasks with the app

    with celery_worker_queue("test-geo") as queue:
        settings.EXPORTS_QUEUE = settings.PRIORITIES_QUEUE = queue
        yield queue


@pytest.fixture
def no_areas(db: None) -> None:
    """An empty boundary table, whatever the session has committed (rolled back afterwards)."""
    Area.objects.all().delete()


@pytest.fixture
def run() -> Callable[..., str]:
    """Runs a management command and returns what it printed."""

    def run(name: str, *args: Any, **options: Any) -> str:
        out = StringIO()
        call_command(name, *args, stdout=out, **options)
        return out.getvalue()

    return run
