"""Inputs at the very edges of what the parsers take (found by fuzzing the OpenAPI schema):
each is a 400 naming its parameter, or an answer; never a 500."""

import pytest
from django.contrib.auth.models import User

from tests.cast import client_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("west_mercia")]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"until": "9999-12-31"}, "until"),
        ({"since": "0001-01-01T00:00:00+05:00"}, "since"),
        ({"until": "9999-12-31T23:00:00-05:00"}, "until"),
    ],
)
def test_a_date_at_the_end_of_the_calendar_is_a_400_naming_it(
    force_planner: User, params: dict[str, str], field: str
) -> None:
    response = client_for(force_planner).get("/api/v1/reports", params)

    assert response.status_code == 400, response.content
    assert list(response.json()["errors"]) == [field]
    assert "at the edge of the calendar" in response.json()["errors"][field][0]


def test_a_lower_case_rfc_3339_date_time_is_taken(force_planner: User) -> None:
    client = client_for(force_planner)

    lower = client.get("/api/v1/reports", {"since": "2026-03-01t18:00:00z"})
    upper = client.get("/api/v1/reports", {"since": "2026-03-01T18:00:00Z"})

    assert lower.status_code == upper.status_code == 200
    assert lower.json() == upper.json()


@pytest.mark.parametrize("url", ["/api/v1/hotspots", "/api/v1/public/hotspots"])
@pytest.mark.parametrize("box", ["2,-90,89,1", "-121.2,-89,119,5"])
def test_a_box_the_analysis_grid_cannot_map_is_a_400_naming_in_bbox(
    force_planner: User, url: str, box: str
) -> None:
    response = client_for(force_planner).get(url, {"in_bbox": box})

    assert response.status_code == 400, response.content
    assert list(response.json()["errors"]) == ["in_bbox"]
    assert "analysis grid" in response.json()["errors"]["in_bbox"][0]


def test_a_box_around_the_service_area_is_still_taken(force_planner: User) -> None:
    response = client_for(force_planner).get("/api/v1/hotspots", {"in_bbox": "-3.3,51.8,-1.7,53"})

    assert response.status_code == 200, response.content


@pytest.mark.parametrize("url", ["/api/v1/streetlights", "/api/v1/public/actions"])
@pytest.mark.parametrize("field", ["page", "page_size"])
def test_a_digit_that_is_not_ascii_is_a_400_naming_its_parameter(
    force_planner: User, url: str, field: str
) -> None:
    response = client_for(force_planner).get(url, {field: "²"})

    assert response.status_code == 400, response.content
    assert list(response.json()["errors"]) == [field]
