"""The cast and the ground every test stands on: real PostGIS, real Redis.

- ``reporter``: a member of the public with no account, an API client and nothing else.
- ``moderator``: staff in the moderators group, who approve or reject free text.
- ``west_mercia``: the force area and its five local policing areas, from the fixture files
  in tests/fixtures/boundaries (never ../shared).
- ``force_planner`` of West Mercia Police (the whole force area) and ``shropshire_planner``
  of Shropshire Council (the Shropshire policing area only); ``tests.cast`` makes clients
  that call the API as them, by token.
"""

import uuid
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _clean_cache() -> Iterator[None]:
    from django.core.cache import cache

    from geo.hotspots.schedule import forget_queued_locally

    cache.clear()
    forget_queued_locally()
    yield


@pytest.fixture(scope="session")
def _west_mercia_committed(django_db_setup: Any, django_db_blocker: Any) -> None:
    from tests.fixtures.areas import load_west_mercia_fixture

    with django_db_blocker.unblock():
        load_west_mercia_fixture()


@pytest.fixture
def west_mercia(_west_mercia_committed: None) -> None:
    """The boundaries, committed once per session.

    Transactional tests empty every table when they finish (pytest-django runs them after
    the others), so the boundaries are loaded again where they are missing: one query when
    they are there.
    """
    from tests.fixtures.areas import load_west_mercia_fixture

    load_west_mercia_fixture(if_missing=True)


@pytest.fixture
def reporter() -> Any:
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def moderator(db: None) -> Any:
    from django.contrib.auth.models import Group, User

    user = User.objects.create_user("moderator", password="a-moderator-password", is_staff=True)
    user.groups.add(Group.objects.get(name="moderators"))
    return user


def a_report(**overrides: Any) -> dict[str, Any]:
    """A valid report from Worcester city centre, as the app sends it."""
    from tests.fixtures.points import WORCESTER

    body: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "location": {"type": "Point", "coordinates": list(WORCESTER)},
        "reasons": ["poor_lighting", "isolated"],
        "severity": 2,
    }
    body.update(overrides)
    return body


@pytest.fixture
def west_mercia_police(west_mercia: None, db: None) -> Any:
    from geo.management.commands.load_west_mercia import FORCE_CODE
    from tests.cast import organisation_make

    return organisation_make("West Mercia Police", FORCE_CODE)


@pytest.fixture
def shropshire_council(west_mercia: None, db: None) -> Any:
    from tests.cast import organisation_make

    return organisation_make("Shropshire Council", "wm-shropshire")


@pytest.fixture
def force_planner(west_mercia_police: Any) -> Any:
    from tests.cast import planner_make

    return planner_make("force-planner", west_mercia_police)


@pytest.fixture
def shropshire_planner(shropshire_council: Any) -> Any:
    from tests.cast import planner_make

    return planner_make("shropshire-planner", shropshire_council)
