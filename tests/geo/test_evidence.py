"""The evidence pack: ``GET /api/v1/areas/{code}/evidence`` as HTML and PDF.

One set of reports, one working street light, one past intervention and one rebuild serve
the whole module (committed when it starts, removed when it ends):

- Worcester (South Worcestershire): 40 reports of poor lighting in a deserted place at
  night over 300 m, and a knot of 20 of poor lighting (a place and a hot spot); a working
  light at the knot's centre already covers the knot, so the chosen lighting sites lie in
  the rest. No cameras: the 40 are all CCTV demand.
- Shrewsbury (Shropshire): 40 reports of being followed, felt by day.
- A new light in Worcester, completed in June 2026.
"""

import datetime as dt
import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.contrib.gis.geos import Point
from django.db import connection
from django.test import override_settings
from pypdf import PdfReader

from geo.hotspots.rebuild import hotspots_rebuild
from geo.models import HotspotGeneration, Organisation
from tests.cast import client_for, planner_make
from tests.fixtures.areas import load_west_mercia_fixture
from tests.fixtures.points import SHREWSBURY, WORCESTER
from tests.geo.asset_factories import intervention_at, light_at
from tests.geo.hotspot_factories import prime_study_cache, reports_around

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("west_mercia", "evidence_data")]

NIGHT = dt.datetime(2026, 10, 14, 23, 30, tzinfo=dt.UTC)
DAY = dt.datetime(2026, 10, 15, 11, 0, tzinfo=dt.UTC)
COARSE = {"HOTSPOT_RESOLUTIONS": [200, 1000], "HOTSPOT_DISTANCE_BANDS": [400.0, 2000.0]}
URL = "/api/v1/areas/wm-south-worcestershire/evidence"


@pytest.fixture(scope="module")
def evidence_data(django_db_setup: Any, django_db_blocker: Any) -> Iterator[None]:
    with django_db_blocker.unblock(), override_settings(**COARSE):
        load_west_mercia_fixture(if_missing=True)
        prime_study_cache()
        reports_around(
            WORCESTER,
            count=40,
            spread_m=300,
            seed=1,
            felt_at=NIGHT,
            reasons=("poor_lighting", "isolated"),
        )
        reports_around(WORCESTER, count=20, spread_m=15, seed=2, felt_at=NIGHT)
        reports_around(
            SHREWSBURY, count=40, spread_m=300, seed=3, felt_at=DAY, reasons=("followed",)
        )
        light_at(WORCESTER)
        council = Organisation.objects.create(name="Worcester Council", slug="worcester-council")
        intervention_at(
            WORCESTER,
            organisation=council,
            area_code="wm-south-worcestershire",
            date=dt.date(2026, 6, 1),
            cost=4500,
        )
        generation = hotspots_rebuild()
        assert generation.status == HotspotGeneration.Status.LIVE
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                for table in (
                    "geo_hotspotcell",
                    "geo_place",
                    "geo_hotspotslice",
                    "geo_hotspotgeneration",
                    "geo_intervention",
                    "geo_priorityrun",
                    "geo_streetlight",
                    "reports_report",
                ):
                    cursor.execute(f"DELETE FROM {table}")
                cursor.execute("DELETE FROM geo_organisation WHERE slug = 'worcester-council'")


@pytest.fixture(autouse=True)
def _coarse(settings: Any) -> None:
    settings.HOTSPOT_RESOLUTIONS = COARSE["HOTSPOT_RESOLUTIONS"]
    settings.HOTSPOT_DISTANCE_BANDS = COARSE["HOTSPOT_DISTANCE_BANDS"]
    prime_study_cache()


def get(user: Any, url: str = URL, **params: Any) -> Any:
    return client_for(user).get(url, params)


def page_text(html: str) -> str:
    """The page's words, without tags, on one line each run of space."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# The page


def test_the_page_shows_the_counts_the_map_the_places_the_sites_and_past_work(force_planner):
    response = get(force_planner, intervention="lighting", budget=9000, unit_cost=3000)

    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert "script-src" not in response["Content-Security-Policy"]
    html = response.content.decode()
    text = page_text(html)
    assert "Evidence pack: South Worcestershire" in text
    assert "60 reports of feeling unsafe" in text
    # The map: the area's outline, hot spots in red, three numbered sites.
    svg = html[html.index("<svg") : html.index("</svg>")]
    assert 'fill="#d73027"' in svg or 'fill="#f46d43"' in svg
    assert [int(n) for n in re.findall(r">(\d+)</text>", svg)] == [1, 2, 3]
    # The one working light, which the sites are chosen around.
    assert svg.count('fill="#d9a400"') == 1
    # The same choice as the priorities API makes for the same question.
    asked = get(
        force_planner,
        "/api/v1/priorities",
        intervention="lighting",
        budget=9000,
        unit_cost=3000,
        area="wm-south-worcestershire",
    ).json()
    assert len(asked["features"]) == 3
    rows = re.findall(r"<tr><td class=\"n\">(\d+)</td>", html)
    assert rows == ["1", "2", "3"]
    first = asked["features"][0]["properties"]
    assert f"{first['latitude']:.5f}, {first['longitude']:.5f}" in text
    assert "£9,000" in text and "£3,000" in text
    # The top place and the past intervention with its verdict.
    assert "New street light" in text and "1 Jun 2026" in text and "£4,500" in text
    assert "Dark or badly lit" in text


def test_the_knot_a_working_light_covers_is_not_chosen(force_planner):
    html = get(force_planner, intervention="lighting", budget=3000, unit_cost=3000).content
    asked = get(
        force_planner,
        "/api/v1/priorities",
        intervention="lighting",
        budget=3000,
        unit_cost=3000,
        area="wm-south-worcestershire",
    ).json()

    site = asked["features"][0]["properties"]
    light = Point(*WORCESTER, srid=4326).transform(settings.ANALYSIS_SRID, clone=True)
    chosen = Point(site["longitude"], site["latitude"], srid=4326)
    chosen.transform(settings.ANALYSIS_SRID)
    assert chosen.distance(light) > settings.LIGHT_RADIUS_M
    assert f"{site['latitude']:.5f}".encode() in html


def test_both_interventions_by_default_with_lettered_sites(force_planner):
    response = get(force_planner, budget=100000)

    html = response.content.decode()
    assert response.status_code == 200
    assert "Where street lighting would do the most good" in html
    assert "Where CCTV would do the most good" in html
    svg = html[html.index("<svg") : html.index("</svg>")]
    labels = re.findall(r">([LC]\d+)</text>", svg)
    assert "L1" in labels and "C1" in labels
    # No camera is there to draw.
    assert 'fill="#7b3294"' not in svg


def test_the_pdf_is_a_download_with_the_same_content(force_planner):
    response = get(force_planner, format="pdf", intervention="lighting", budget=9000)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert re.fullmatch(
        r'attachment; filename="evidence-wm-south-worcestershire-\d{4}-\d\d-\d\d\.pdf"',
        response["Content-Disposition"],
    )
    reader = PdfReader(io.BytesIO(response.content))
    text = " ".join(page.extract_text() for page in reader.pages)
    assert "Evidence pack: South Worcestershire" in text
    assert "Where street lighting would do the most good" in text
    assert "New street light" in text


def test_a_force_pack_covers_its_policing_areas(force_planner):
    response = get(force_planner, "/api/v1/areas/E23000016/evidence", intervention="cctv")

    text = page_text(response.content.decode())
    assert response.status_code == 200
    assert "100 reports of feeling unsafe" in text


# Who may have it


def test_an_anonymous_request_is_refused():
    assert get(None).status_code == 401


def test_someone_who_is_not_a_planner_is_refused():
    assert get(planner_make("not-a-planner", in_group=False)).status_code == 403


def test_an_area_outside_the_organisation_is_as_missing_as_an_unknown_one(shropshire_planner):
    outside = get(shropshire_planner)
    unknown = get(shropshire_planner, "/api/v1/areas/no-such-area/evidence")

    assert outside.status_code == unknown.status_code == 404
    assert outside.json()["detail"].replace("wm-south-worcestershire", "X") == unknown.json()[
        "detail"
    ].replace("no-such-area", "X")


def test_a_planner_s_own_area_holds_only_its_own_reports(shropshire_planner):
    response = get(shropshire_planner, "/api/v1/areas/wm-shropshire/evidence")

    text = page_text(response.content.decode())
    assert response.status_code == 200
    assert "40 reports of feeling unsafe" in text
    assert "Being followed" in text
    assert "Dark or badly lit" not in text


# Bad input


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"format": "docx"}, "format"),
        ({"intervention": "patrol"}, "intervention"),
        ({"intervention": ","}, "intervention"),
        ({"budget": "-5"}, "budget"),
        ({"budget": "nan"}, "budget"),
        ({"budget": "lots"}, "budget"),
        ({"unit_cost": "0", "intervention": "cctv"}, "unit_cost"),
        ({"unit_cost": "3000"}, "unit_cost"),
    ],
)
def test_bad_input_is_a_400_naming_the_parameter(force_planner, params, field):
    response = get(force_planner, **params)

    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]
    # The same request without the bad parameter is answered.
    params.pop(field)
    assert get(force_planner, **params).status_code == 200
