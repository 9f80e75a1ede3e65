from collections.abc import Callable
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from geo.models import Area


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
