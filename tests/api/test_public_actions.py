"""The public "you said, we did": GET /api/v1/public/actions and the page at /actions/.

Anyone may read them. They list completed interventions with their area, kind and day,
and how many unsafe reports nearby led to each, only when at least K_ANONYMITY; never a
note, a cost, who recorded it, or where any report was.
"""

import datetime as dt
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.staticfiles import finders
from django.core.cache import cache

from geo.evaluation import intervention_evaluate
from geo.interventions import placement
from geo.models import Intervention, Organisation
from reports.models import Report
from tests.cast import client_for
from tests.fixtures.points import HEREFORD, SHREWSBURY, WORCESTER
from tests.geo.hotspot_factories import Row, insert_reports, projected, scattered

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("west_mercia")]

URL = "/api/v1/public/actions"
PAGE = "/actions/"
NOTE = "Quote 2231 from Lumen Ltd, ask Jo"
DONE = dt.date(2026, 3, 14)


def an_intervention(lonlat: tuple[float, float], **fields: Any) -> Intervention:
    place = placement(longitude=lonlat[0], latitude=lonlat[1])
    organisation, _ = Organisation.objects.get_or_create(
        name="Shropshire Council", slug="shropshire-council"
    )
    user, _ = User.objects.get_or_create(username="jo.bloggs")
    values: dict[str, Any] = {
        "organisation": organisation,
        "kind": Intervention.Kind.NEW_LIGHT,
        "location": place.location,
        "location_projected": place.location_projected,
        "area_id": place.area_id,
        "date": DONE,
        "radius_m": 100,
        "cost": 4321,
        "note": NOTE,
        "created_by": user,
        **fields,
    }
    return Intervention.objects.create(**values)


def reports_near(
    lonlat: tuple[float, float],
    count: int,
    *,
    felt: dt.datetime = dt.datetime(2025, 9, 10, 21, 0, tzinfo=dt.UTC),
    spread_m: float = 60,
    **fields: Any,
) -> list[Any]:
    points = scattered(projected(lonlat), count=count, spread_m=spread_m, seed=count)
    return insert_reports([Row(x, y, felt_at=felt, **fields) for x, y in points])


def results(**params: Any) -> list[dict[str, Any]]:
    response = client_for(None).get(URL, params)
    assert response.status_code == 200, response.content
    return response.json()["results"]


@pytest.fixture
def two_lights() -> dict[str, Intervention]:
    """A light in Shrewsbury that 7 reports led to, and one in Worcester that 4 did."""
    shrewsbury = an_intervention(SHREWSBURY)
    worcester = an_intervention(WORCESTER, date=dt.date(2026, 2, 1))
    reports_near(SHREWSBURY, 7)
    reports_near(WORCESTER, 4)
    return {"shrewsbury": shrewsbury, "worcester": worcester}


# What it says


def test_anyone_may_read_it_and_each_action_has_its_area_kind_day_and_count(two_lights):
    response = client_for(None).get(URL)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert body["results"][0] == {
        "kind": "new_light",
        "kind_label": "New street light",
        "date": "2026-03-14",
        "area": {"code": "wm-shropshire", "name": "Shropshire"},
        "location": {
            "type": "Point",
            "coordinates": [round(SHREWSBURY[0], 3), round(SHREWSBURY[1], 3)],
        },
        "reports": 7,
        "fewer_than": None,
    }


def test_a_count_below_k_is_withheld_and_says_so(two_lights):
    worcester = results()[1]

    assert worcester["area"]["name"] == "South Worcestershire"
    assert worcester["reports"] is None
    assert worcester["fewer_than"] == settings.K_ANONYMITY == 5


def test_a_count_of_exactly_k_is_shown(two_lights):
    reports_near(WORCESTER, 1, spread_m=10)

    assert results()[1]["reports"] == 5


def test_k_is_a_setting(two_lights, settings):
    settings.K_ANONYMITY = 8

    assert [(r["reports"], r["fewer_than"]) for r in results()] == [(None, 8), (None, 8)]


def test_only_the_reports_that_could_have_led_to_it_are_counted(two_lights):
    # None of these count: being followed is not a lighting reason; a safe report; 300 m
    # away; felt after the light, or in its month, or over a year before it.
    reports_near(SHREWSBURY, 9, reasons=("followed",))
    reports_near(SHREWSBURY, 9, feeling="safe", reasons=())
    x, y = projected(SHREWSBURY)
    insert_reports([Row(x + 300, y) for _ in range(9)])
    reports_near(SHREWSBURY, 9, felt=dt.datetime(2026, 4, 2, tzinfo=dt.UTC))
    reports_near(SHREWSBURY, 9, felt=dt.datetime(2026, 3, 2, tzinfo=dt.UTC))
    reports_near(SHREWSBURY, 9, felt=dt.datetime(2025, 2, 27, tzinfo=dt.UTC))
    # These do: the first month of the twelve before March 2026.
    reports_near(SHREWSBURY, 9, felt=dt.datetime(2025, 3, 1, 12, tzinfo=dt.UTC))

    shrewsbury = results()[0]

    assert shrewsbury["reports"] == 7 + 9
    evaluation = intervention_evaluate(two_lights["shrewsbury"])
    assert evaluation.near.before == shrewsbury["reports"]


def test_a_camera_counts_the_reasons_a_camera_addresses(two_lights):
    camera = an_intervention(HEREFORD, kind=Intervention.Kind.NEW_CAMERA, date=dt.date(2026, 5, 1))
    reports_near(HEREFORD, 6, reasons=("no_cctv",))
    reports_near(HEREFORD, 6, reasons=("poor_lighting",))

    assert camera.area is not None
    assert results()[0]["reports"] == 6


def test_planned_interventions_are_not_listed(two_lights):
    an_intervention(SHREWSBURY, date=dt.date.today() + dt.timedelta(days=3))

    assert len(results()) == 2


def test_nothing_private_is_ever_in_it(two_lights):
    report_points = list(Report.objects.values_list("location", flat=True))

    response = client_for(None).get(URL)
    text = response.content.decode()

    for result in response.json()["results"]:
        assert set(result) == {
            "kind",
            "kind_label",
            "date",
            "area",
            "location",
            "reports",
            "fewer_than",
        }
    for secret in (NOTE, "4321", "Shropshire Council", "jo.bloggs", "created", "organisation"):
        assert secret not in text
    for location in report_points:
        assert f"{location.x:.4f}" not in text
        assert f"{location.y:.4f}" not in text
    # The intervention's own point only roughly: to 0.001 degree, about 100 m.
    for result in response.json()["results"]:
        lon, lat = result["location"]["coordinates"]
        assert round(lon, 3) == lon and round(lat, 3) == lat


def test_it_filters_by_area_and_pages(two_lights):
    an_intervention(SHREWSBURY, date=dt.date(2025, 1, 1), kind=Intervention.Kind.OTHER)

    shropshire = results(area="wm-shropshire")
    first = client_for(None).get(URL, {"page_size": 2}).json()
    second = client_for(None).get(first["next"]).json()

    assert [r["kind"] for r in shropshire] == ["new_light", "other"]
    assert first["count"] == 3 and first["previous"] is None
    assert [r["date"] for r in first["results"]] == ["2026-03-14", "2026-02-01"]
    assert [r["date"] for r in second["results"]] == ["2025-01-01"]
    assert second["next"] is None
    assert client_for(None).get(second["previous"]).json() == first


def test_bad_parameters_are_a_400_naming_each():
    cases = [
        ({"area": "nowhere"}, ["area"]),
        ({"area": "E23000016"}, ["area"]),  # a force, not a local policing area
        ({"page": "0"}, ["page"]),
        ({"page": "two"}, ["page"]),
        ({"page_size": "201"}, ["page_size"]),
        ({"page": "-1", "page_size": "x"}, ["page", "page_size"]),
    ]

    for params, fields in cases:
        response = client_for(None).get(URL, params)
        assert response.status_code == 400, params
        assert sorted(response.json()["errors"]) == fields


# Cached briefly


def test_it_is_cached_and_a_change_to_an_intervention_shows_at_once(
    two_lights, django_assert_num_queries
):
    client = client_for(None)
    client.get(URL)

    with django_assert_num_queries(0):
        assert client.get(URL).status_code == 200
    response = client.get(URL)
    assert "public" in response["Cache-Control"]
    assert "max-age=60" in response["Cache-Control"]

    # A report erased is gone from the counts once the cache expires.
    Report.objects.filter(area__code="wm-shropshire").delete()
    assert results()[0]["reports"] == 7
    cache.clear()
    assert results()[0]["reports"] is None

    # A new or deleted intervention shows at once.
    two_lights["worcester"].delete()
    assert len(results()) == 1


def test_a_page_takes_a_pinned_number_of_queries(two_lights, django_assert_num_queries):
    # 1. the count; 2. the page; 3. the reports near each intervention of the page.
    with django_assert_num_queries(3):
        client_for(None).get(URL)


# The page


def test_the_page_lists_the_same_actions_without_any_script(two_lights):
    response = client_for(None).get(PAGE)

    assert response.status_code == 200
    html = response.content.decode()
    assert "You said, we did" in html
    assert html.count('class="action"') == 2
    assert "New street light" in html
    assert "Shropshire" in html and "South Worcestershire" in html
    assert "14 March 2026" in html
    assert "<strong>7</strong> reports of feeling unsafe nearby" in html
    assert "Fewer than 5 reports nearby" in html
    assert "<script" not in html
    assert 'name="viewport"' in html
    for secret in (NOTE, "4321", "Shropshire Council", "jo.bloggs"):
        assert secret not in html
    policy = response["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "script-src" not in policy  # so no script at all, by default-src
    assert "style-src 'self'" in policy
    assert finders.find("geo/actions.css") is not None


def test_the_page_filters_by_area_and_pages(two_lights):
    for day in range(1, 21):
        an_intervention(SHREWSBURY, date=dt.date(2025, 1, day))

    first = client_for(None).get(PAGE, {"area": "wm-shropshire"}).content.decode()
    second = client_for(None).get(PAGE, {"area": "wm-shropshire", "page": "2"}).content.decode()

    assert "21 completed actions in Shropshire." in first
    assert first.count('class="action"') == 20
    assert "Page 1 of 2" in first
    assert 'href="?area=wm-shropshire&amp;page=2"' in first
    assert second.count('class="action"') == 1
    assert "South Worcestershire</option>" in first  # still offered in the picker
    assert "South Worcestershire, <time" not in first
    assert "Shropshire, <time" in first


def test_the_page_says_what_is_wrong_with_a_bad_parameter():
    response = client_for(None).get(PAGE, {"area": "nowhere"})

    assert response.status_code == 400
    assert "No local policing area with the code &#x27;nowhere&#x27;." in response.content.decode()
    assert "Content-Security-Policy" in response


def test_the_page_with_nothing_done_yet_says_so():
    response = client_for(None).get(PAGE)

    assert response.status_code == 200
    assert "Nothing completed yet." in response.content.decode()


def test_the_public_list_is_in_the_openapi_schema():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)

    operation = schema["paths"]["/api/v1/public/actions"]["get"]
    assert {"200", "400"} <= set(operation["responses"])
