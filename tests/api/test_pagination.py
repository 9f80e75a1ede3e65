"""Paged lists: a page, a page size, a limit or an offset that is not a whole number in
range is a 400 naming it; a page past the last is a 404 saying which is the last."""

import pytest
from django.contrib.auth.models import User

from tests.cast import client_for
from tests.fixtures.points import WORCESTER
from tests.geo.asset_factories import lights_around

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("west_mercia")]

PAGED = ["/api/v1/reports", "/api/v1/streetlights", "/api/v1/cameras", "/api/v1/interventions"]


@pytest.mark.parametrize("url", PAGED)
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page": "0"}, "page"),
        ({"page": "-1"}, "page"),
        ({"page": "two"}, "page"),
        ({"page": "1.5"}, "page"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "null"}, "page_size"),
        ({"page_size": "99999999999"}, "page_size"),
    ],
)
def test_a_bad_page_or_page_size_is_a_400_naming_it(
    force_planner: User, url: str, params: dict[str, str], field: str
) -> None:
    response = client_for(force_planner).get(url, params)

    assert response.status_code == 400, response.content
    assert list(response.json()["errors"]) == [field]
    assert params[field] in response.json()["errors"][field][0]


def test_a_page_past_the_last_is_a_404_saying_which_is_the_last(force_planner: User) -> None:
    lights_around(WORCESTER, count=5, spread_m=100, seed=1)
    client = client_for(force_planner)

    found = client.get("/api/v1/streetlights", {"page": "2", "page_size": "3"})
    missing = client.get("/api/v1/streetlights", {"page": "3", "page_size": "3"})
    last = client.get("/api/v1/streetlights", {"page": "last", "page_size": "3"})

    assert found.status_code == 200 and len(found.json()["features"]) == 2
    assert missing.status_code == 404
    assert missing.json()["detail"] == ("There is no page 3 of these results: the last is page 2.")
    assert last.json()["features"] == found.json()["features"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": "-5"}, "offset"),
        ({"offset": "null"}, "offset"),
    ],
)
def test_a_bad_limit_or_offset_of_the_exports_list_is_a_400_naming_it(
    force_planner: User, params: dict[str, str], field: str
) -> None:
    response = client_for(force_planner).get("/api/v1/exports", params)

    assert response.status_code == 400, response.content
    assert list(response.json()["errors"]) == [field]


def test_a_good_limit_and_offset_still_page_the_exports(force_planner: User) -> None:
    response = client_for(force_planner).get("/api/v1/exports", {"limit": "5", "offset": "0"})

    assert response.status_code == 200
    assert response.json()["count"] == 0
