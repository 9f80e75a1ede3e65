"""A real Celery worker for tests: in a thread, on the tests' Redis, on a queue of its own;
and what a job records of its progress."""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connections
from django.db.models import Model
from django.db.models.signals import post_save


@contextmanager
def celery_worker_queue(prefix: str) -> Iterator[str]:
    """Runs a worker consuming a new queue; yields the queue's name.

    The queue is the caller's alone, so that no other worker on the same Redis (a running
    service, or another test run's) takes its tasks. Import the tasks module first so the
    worker knows its tasks.
    """
    from celery.contrib.testing.worker import start_worker
    from celery.signals import task_postrun

    from streetsafe.celery import app

    saved = {
        key: app.conf[key] for key in ("broker_url", "result_backend", "worker_hijack_root_logger")
    }
    # The tests' own Redis database (tests/env.py), whatever settings were read with.
    redis_url = os.environ["REDIS_URL"]
    app.conf.update(broker_url=redis_url, result_backend=redis_url, worker_hijack_root_logger=False)
    queue = f"{prefix}-{uuid.uuid4().hex}"

    def close_worker_connections(**kwargs: Any) -> None:
        # Runs in the worker's thread: its database connection must not outlive the test,
        # or the test database could not be flushed or dropped.
        connections.close_all()

    task_postrun.connect(close_worker_connections, weak=False)
    try:
        with start_worker(app, queues=[queue], perform_ping_check=False, shutdown_timeout=30):
            yield queue
    finally:
        task_postrun.disconnect(close_worker_connections)
        with app.connection_for_write() as broker_connection:
            # Declared again first, so that the channel knows the bindings it must remove.
            bound = app.amqp.queues[queue].bind(broker_connection.default_channel)
            bound.declare()
            bound.delete()
        app.conf.update(saved)


@contextmanager
def progress_recorded(model: type[Model]) -> Iterator[list[float]]:
    """Every progress a job of this model saves, in order, whichever thread saves it."""
    seen: list[float] = []

    def record(sender: Any, instance: Any, update_fields: Any = None, **kwargs: Any) -> None:
        if update_fields is not None and "progress" in update_fields:
            seen.append(instance.progress)

    post_save.connect(record, sender=model, weak=False)
    try:
        yield seen
    finally:
        post_save.disconnect(record, sender=model)
