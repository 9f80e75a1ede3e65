"""A real same-city case: Sheffield's crime and Sheffield's own cameras, in one place.

The Sheffield fixture (tests/fixtures/sheffield: 287 police.uk crimes of April 2026 and 20
of the council's cameras, 8 of them traffic cameras) loaded as the demo's second region;
its council's planner asks where CCTV is missing and where a budget should put cameras,
and the answers must agree with the cameras on the ground.
"""

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.gis.geos import Point
from django.core.management import call_command

from geo.models import Camera
from reports.models import Report
from tests.cast import client_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("west_mercia")]

SHEFFIELD_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "sheffield"
BUDGET = "45000"
UNIT_COST = "15000"


@pytest.fixture
def sheffield_planner() -> User:
    call_command("load_demo", region="sheffield", data_dir=str(SHEFFIELD_DIR), verbosity=0)
    return User.objects.get(username="sheffield-planner")


def projected(lon: float, lat: float) -> Point:
    point = Point(lon, lat, srid=4326)
    point.transform(settings.ANALYSIS_SRID)
    return point


CCTV_REASONS = {"no_cctv", "isolated", "followed", "harassment_individual", "harassment_group"}


def cctv_demand() -> tuple[list[Report], list[Report]]:
    """Sheffield's unsafe reports asking for CCTV, split into those a working public-space
    camera already sees and the rest, worked out one by one."""
    public = [
        c.location_projected for c in Camera.objects.filter(kind="public_space", working=True)
    ]
    demand = [
        report
        for report in Report.objects.filter(area__code="sy-sheffield", feeling="unsafe")
        if CCTV_REASONS & set(report.reasons)
    ]
    seen = [
        r
        for r in demand
        if any(r.location_projected.distance(c) <= settings.CAMERA_RADIUS_M for c in public)
    ]
    return seen, [r for r in demand if r not in seen]


def test_the_gaps_are_where_no_public_space_camera_sees(sheffield_planner: User) -> None:
    client = client_for(sheffield_planner)

    response = client.get("/api/v1/coverage-gaps", {"intervention": "cctv", "area": "sy-sheffield"})

    assert response.status_code == 200, response.content
    cells = response.json()["features"]
    assert cells
    uncovered = sum(cell["properties"]["uncovered_reports"] for cell in cells)
    covered = sum(cell["properties"]["covered_reports"] for cell in cells)
    seen, unseen = cctv_demand()
    assert len(seen) > 0
    assert uncovered == len(unseen) > 0
    # Cells with nothing left uncovered are not gaps: what is covered in them is not shown.
    assert covered <= len(seen)


def test_the_budget_buys_cameras_where_none_sees_and_says_how_much_they_cover(
    sheffield_planner: User,
) -> None:
    client = client_for(sheffield_planner)

    response = client.get(
        "/api/v1/priorities",
        {"intervention": "cctv", "budget": BUDGET, "unit_cost": UNIT_COST, "area": "sy-sheffield"},
    )

    assert response.status_code == 200, response.content
    body = response.json()
    sites = [feature["properties"] for feature in body["features"]]
    assert [site["rank"] for site in sites] == [1, 2, 3]
    assert [site["total_cost"] for site in sites] == [15000, 30000, 45000]
    gains = [site["gain"] for site in sites]
    assert gains == sorted(gains, reverse=True) and gains[-1] > 0
    assert 0 < body["share_covered"] <= 1
    assert sites[-1]["share"] == pytest.approx(body["share_covered"])
    # The first site covers exactly the unseen reports within reach of it (traffic cameras
    # watch roads, not people: what only they see is still unseen); later sites count only
    # what earlier ones left.
    _, unseen = cctv_demand()
    first = projected(sites[0]["longitude"], sites[0]["latitude"])
    reach = body["radius"]
    assert sites[0]["reports"] == sum(
        1 for r in unseen if r.location_projected.distance(first) <= reach
    )
    assert sum(site["reports"] for site in sites) <= len(unseen)


def test_west_mercia_s_planner_sees_none_of_sheffield(
    sheffield_planner: User, force_planner: Any
) -> None:
    client = client_for(force_planner)

    gaps = client.get("/api/v1/coverage-gaps", {"intervention": "cctv"})
    asked = client.get("/api/v1/priorities", {"intervention": "cctv", "budget": BUDGET})
    outside = client.get(
        "/api/v1/priorities", {"intervention": "cctv", "budget": BUDGET, "area": "sy-sheffield"}
    )

    assert gaps.status_code == 200 and gaps.json()["features"] == []
    assert asked.status_code == 200 and asked.json()["features"] == []
    assert outside.status_code == 400 and list(outside.json()["errors"]) == ["area"]
