"""The planner layers as GeoJSON (hotspots, places, reports, areas, area summaries) and the
public layer: what each returns, to whom, under which filters, and in how many queries.

One set of reports and one rebuild serve the whole module (a rebuild reads committed
reports from its own connections): committed when the module starts, removed when it ends.

- Worcester (South Worcestershire): 60 reports of poor lighting, felt at night, over 300 m,
  with a tight knot of 20 that makes a place; their free text in every moderation state.
- Shrewsbury (Shropshire): 40 reports of being followed, felt by day, with a knot of 20.
- Hereford (Herefordshire): 2 reports, too few for the public layer.
"""

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.contrib.gis.geos import GEOSGeometry, Point
from django.db import connection
from django.test import override_settings
from pytest_django import DjangoAssertNumQueries

from geo.hotspots.rebuild import hotspots_rebuild
from geo.models import HotspotGeneration
from reports.models import Report
from tests.cast import client_for, planner_make
from tests.fixtures.areas import load_west_mercia_fixture
from tests.fixtures.points import HEREFORD, SHREWSBURY, WORCESTER
from tests.geo.hotspot_factories import prime_study_cache, reports_around

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("west_mercia", "layers")]

NIGHT = dt.datetime(2026, 10, 14, 23, 30, tzinfo=dt.UTC)
DAY = dt.datetime(2026, 10, 15, 11, 0, tzinfo=dt.UTC)
COARSE = {"HOTSPOT_RESOLUTIONS": [200, 1000], "HOTSPOT_DISTANCE_BANDS": [400.0, 2000.0]}
PLANNER_URLS = [
    "/api/v1/hotspots",
    "/api/v1/places",
    "/api/v1/reports",
    "/api/v1/areas",
    "/api/v1/areas/wm-shropshire/summary",
    "/api/v1/places/1",
]


@pytest.fixture(scope="module")
def layers(django_db_setup: Any, django_db_blocker: Any) -> Iterator[dict[str, Any]]:
    with django_db_blocker.unblock(), override_settings(**COARSE):
        load_west_mercia_fixture(if_missing=True)
        prime_study_cache()
        worcester = reports_around(WORCESTER, count=40, spread_m=300, seed=1, felt_at=NIGHT)
        worcester += reports_around(WORCESTER, count=20, spread_m=15, seed=2, felt_at=NIGHT)
        reports_around(
            SHREWSBURY, count=20, spread_m=300, seed=3, felt_at=DAY, reasons=("followed",)
        )
        reports_around(
            SHREWSBURY, count=20, spread_m=15, seed=4, felt_at=DAY, reasons=("followed",)
        )
        reports_around(HEREFORD, count=2, spread_m=10, seed=5, felt_at=DAY)
        texts = {
            "approved": worcester[0],
            "pending": worcester[1],
            "rejected": worcester[2],
        }
        for state, report_id in texts.items():
            Report.objects.filter(pk=report_id).update(
                text_state=state,
                description=f"{state} text, call 07700 900123",
                description_redacted=f"{state} text, call [phone number]",
            )
        generation = hotspots_rebuild()
        assert generation.status == HotspotGeneration.Status.LIVE
        try:
            yield {"generation": generation, "texts": texts}
        finally:
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM geo_hotspotcell")
                cursor.execute("DELETE FROM geo_place")
                cursor.execute("DELETE FROM geo_hotspotslice")
                cursor.execute("DELETE FROM geo_hotspotgeneration")
                cursor.execute("DELETE FROM reports_report")


@pytest.fixture(autouse=True)
def _coarse(settings: Any) -> None:
    settings.HOTSPOT_RESOLUTIONS = COARSE["HOTSPOT_RESOLUTIONS"]
    settings.HOTSPOT_DISTANCE_BANDS = COARSE["HOTSPOT_DISTANCE_BANDS"]
    prime_study_cache()


def get(user: Any, url: str, **params: Any) -> Any:
    return client_for(user).get(url, params)


def features(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["type"] == "FeatureCollection"
    return body["features"]


def areas_of(found: list[dict[str, Any]]) -> set[str]:
    return {feature["properties"]["area"] for feature in found}


def holds(feature: dict[str, Any], lonlat: tuple[float, float]) -> bool:
    import json

    return GEOSGeometry(json.dumps(feature["geometry"])).intersects(Point(*lonlat))


# Who sees what


@pytest.mark.parametrize("url", PLANNER_URLS)
def test_an_anonymous_request_to_a_planner_layer_is_refused(url):
    response = client_for(None).get(url)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert "features" not in response.json()


@pytest.mark.parametrize("url", PLANNER_URLS)
def test_a_user_who_is_not_a_planner_is_refused(url, west_mercia_police):
    outsider = planner_make("not-in-group", west_mercia_police, in_group=False)

    response = get(outsider, url)

    assert response.status_code == 403
    assert response.json() == {"detail": "Only a planner of an organisation may do this."}


def test_a_force_planner_sees_hotspots_in_every_town(force_planner):
    found = features(get(force_planner, "/api/v1/hotspots"))

    assert areas_of(found) == {"wm-south-worcestershire", "wm-shropshire", "wm-herefordshire"}
    assert any(holds(f, WORCESTER) for f in found)
    assert any(holds(f, SHREWSBURY) for f in found)


def test_a_council_planner_sees_nothing_of_hotspots_outside_the_council(shropshire_planner):
    found = features(get(shropshire_planner, "/api/v1/hotspots"))

    assert found, "the council's own cells"
    assert areas_of(found) == {"wm-shropshire"}
    assert not any(holds(f, WORCESTER) for f in found)
    # Not even by asking for the other area or a box around it.
    asked = get(shropshire_planner, "/api/v1/hotspots", area="wm-south-worcestershire")
    unknown = get(shropshire_planner, "/api/v1/hotspots", area="no-such-area")
    assert asked.status_code == unknown.status_code == 400
    assert asked.json()["errors"]["area"] == [
        "No area with the code 'wm-south-worcestershire' that you can see."
    ]
    box = f"{WORCESTER[0] - 0.02},{WORCESTER[1] - 0.02},{WORCESTER[0] + 0.02},{WORCESTER[1] + 0.02}"
    assert features(get(shropshire_planner, "/api/v1/hotspots", in_bbox=box)) == []


def test_a_council_planner_sees_only_the_councils_places_and_reports(
    shropshire_planner, force_planner
):
    places = features(get(shropshire_planner, "/api/v1/places"))
    reports = get(shropshire_planner, "/api/v1/reports").json()

    assert [p["properties"]["area"] for p in places] == ["wm-shropshire"]
    assert reports["count"] == 40
    assert areas_of(reports["features"]) == {"wm-shropshire"}
    assert get(force_planner, "/api/v1/reports").json()["count"] == 102


def test_a_council_planner_gets_no_summary_of_another_area(shropshire_planner):
    other = get(shropshire_planner, "/api/v1/areas/wm-south-worcestershire/summary")
    unknown = get(shropshire_planner, "/api/v1/areas/no-such-area/summary")

    assert other.status_code == unknown.status_code == 404
    assert "unsafe" not in other.json()


def test_areas_lists_what_each_organisation_covers_with_extents(force_planner, shropshire_planner):
    force = get(force_planner, "/api/v1/areas").json()
    council = get(shropshire_planner, "/api/v1/areas").json()

    assert len(force) == 6
    assert [a["code"] for a in council] == ["wm-shropshire"]
    west, south, east, north = council[0]["bbox"]
    assert west < SHREWSBURY[0] < east and south < SHREWSBURY[1] < north


# Hotspots


def test_hotspot_features_carry_their_statistics_and_counts(force_planner):
    found = features(get(force_planner, "/api/v1/hotspots", resolution=200))
    knot = next(f for f in found if holds(f, WORCESTER))
    props = knot["properties"]

    assert knot["geometry"]["type"] == "Polygon"
    assert props["resolution"] == 200
    assert props["area"] == "wm-south-worcestershire"
    assert props["reason_counts"]["poor_lighting"] == props["unsafe"] > 0
    assert props["band_counts"]["night"] == props["unsafe"]
    assert props["gi_class"] > 0 and props["class_label"].startswith("Hot spot")
    assert {"gi_z", "gi_p", "score", "trend", "trend_p", "safe", "reports"} <= set(props)


def test_resolution_chooses_the_grid_and_200_m_is_the_default(force_planner):
    coarse = features(get(force_planner, "/api/v1/hotspots", resolution=1000))
    default = features(get(force_planner, "/api/v1/hotspots"))

    assert {f["properties"]["resolution"] for f in coarse} == {1000}
    assert {f["properties"]["resolution"] for f in default} == {200}
    assert len(coarse) < len(default)


def test_reason_and_time_band_filters_count_only_those_reports(force_planner):
    followed = features(get(force_planner, "/api/v1/hotspots", reasons="followed"))
    night = features(get(force_planner, "/api/v1/hotspots", time_band="night"))

    assert areas_of(followed) == {"wm-shropshire"}
    assert sum(f["properties"]["unsafe"] for f in followed) == 40
    assert areas_of(night) == {"wm-south-worcestershire"}
    assert sum(f["properties"]["unsafe"] for f in night) == 60


def test_date_filters_take_whole_local_days(force_planner):
    on_the_night = features(
        get(force_planner, "/api/v1/hotspots", since="2026-10-14", until="2026-10-15")
    )
    before = features(get(force_planner, "/api/v1/hotspots", until="2026-10-13"))

    # 23:30 UTC on the 14th is 00:30 on the 15th in London (BST): the 15th's whole day.
    assert areas_of(on_the_night) == {
        "wm-south-worcestershire",
        "wm-shropshire",
        "wm-herefordshire",
    }
    assert before == []


def test_class_and_bbox_filters(force_planner):
    hot = features(get(force_planner, "/api/v1/hotspots", **{"class": "hot"}))
    box = f"{WORCESTER[0] - 0.01},{WORCESTER[1] - 0.01},{WORCESTER[0] + 0.01},{WORCESTER[1] + 0.01}"
    near = features(get(force_planner, "/api/v1/hotspots", in_bbox=box))

    assert hot and all(f["properties"]["gi_class"] > 0 for f in hot)
    assert near and areas_of(near) == {"wm-south-worcestershire"}


def test_too_many_cells_is_a_400_asking_for_a_smaller_box(force_planner, settings):
    settings.HOTSPOTS_MAX_CELLS = 2

    response = get(force_planner, "/api/v1/hotspots")

    assert response.status_code == 400
    assert "in_bbox" in response.json()["errors"]


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("resolution", "50"),
        ("resolution", "wide"),
        ("reasons", "poor_lighting,dragons"),
        ("time_band", "noon"),
        ("since", "last tuesday"),
        ("until", "2026-13-01"),
        ("area", "nowhere"),
        ("in_bbox", "1,2,3"),
        ("in_bbox", "-2,53,-3,52"),
        ("in_bbox", "-2,nan,-1,53"),
        ("class", "9"),
        ("class", "warm"),
    ],
)
def test_a_malformed_filter_is_a_400_naming_it(force_planner, param, value):
    response = get(force_planner, "/api/v1/hotspots", **{param: value})

    assert response.status_code == 400
    body = response.json()
    assert list(body["errors"]) == [param], body
    # The same request with a good value is answered: the check was the one meant.
    assert get(force_planner, "/api/v1/hotspots").status_code == 200


def test_since_after_until_is_a_400_naming_until(force_planner):
    response = get(force_planner, "/api/v1/reports", since="2026-10-15", until="2026-10-01")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["until"]


def test_a_filter_given_twice_is_a_400(force_planner):
    response = client_for(force_planner).get("/api/v1/hotspots?time_band=day&time_band=night")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["time_band"]


def test_hotspots_take_two_queries_once_the_scope_is_cached(
    force_planner, django_assert_num_queries: DjangoAssertNumQueries
):
    client = client_for(force_planner)
    client.get("/api/v1/hotspots")  # caches the organisation's areas

    # The token and its user, the organisation, the cells.
    with django_assert_num_queries(3):
        assert client.get("/api/v1/hotspots").status_code == 200


# Places


def test_places_are_hulls_with_their_summaries(force_planner):
    found = features(get(force_planner, "/api/v1/places"))

    assert {p["properties"]["area"] for p in found} == {"wm-south-worcestershire", "wm-shropshire"}
    worcester = next(p for p in found if p["properties"]["area"] == "wm-south-worcestershire")
    assert worcester["geometry"]["type"] == "Polygon"
    assert worcester["properties"]["report_count"] >= 12
    assert worcester["properties"]["top_reasons"][0] == "poor_lighting"
    assert worcester["properties"]["night_share"] == 1.0


def test_places_filter_by_area_and_take_four_queries(
    force_planner, django_assert_num_queries: DjangoAssertNumQueries
):
    client = client_for(force_planner)
    client.get("/api/v1/places")

    # The token, the organisation, the area asked for, the places.
    with django_assert_num_queries(4):
        found = features(client.get("/api/v1/places", {"area": "wm-shropshire"}))

    assert [p["properties"]["area"] for p in found] == ["wm-shropshire"]


def test_a_place_counts_the_reports_in_its_hull_by_reason_band_and_month(force_planner):
    places = features(get(force_planner, "/api/v1/places"))
    worcester = next(p for p in places if p["properties"]["area"] == "wm-south-worcestershire")

    body = get(force_planner, f"/api/v1/places/{worcester['id']}").json()

    assert body["label"] == worcester["properties"]["label"]
    # The knot of 20, and any of the wider 40 that fell inside its hull.
    assert 20 <= body["unsafe"] < 60
    assert body["safe"] == 0
    assert body["by_reason"]["poor_lighting"] == body["unsafe"]
    assert body["by_reason"]["followed"] == 0
    assert body["by_band"]["night"] == body["unsafe"]
    assert body["monthly"] == [{"month": "2026-10", "unsafe": body["unsafe"]}]
    assert body["trend"] == "no clear trend"


def test_a_place_of_another_area_is_a_404_as_if_it_did_not_exist(force_planner, shropshire_planner):
    places = features(get(force_planner, "/api/v1/places"))
    worcester = next(p for p in places if p["properties"]["area"] == "wm-south-worcestershire")
    shrewsbury = next(p for p in places if p["properties"]["area"] == "wm-shropshire")

    other = get(shropshire_planner, f"/api/v1/places/{worcester['id']}")
    missing = get(shropshire_planner, "/api/v1/places/999999")

    assert other.status_code == missing.status_code == 404
    assert other.json() == missing.json()
    assert get(shropshire_planner, f"/api/v1/places/{shrewsbury['id']}").status_code == 200


def test_a_place_takes_four_queries(
    force_planner, django_assert_num_queries: DjangoAssertNumQueries
):
    client = client_for(force_planner)
    place_id = features(client.get("/api/v1/places"))[0]["id"]

    # The token, the organisation, the place, its counts.
    with django_assert_num_queries(4):
        assert client.get(f"/api/v1/places/{place_id}").status_code == 200


# Reports


def test_report_points_carry_only_approved_redacted_text(force_planner, layers):
    body = get(force_planner, "/api/v1/reports", page_size=200).json()
    texts = [f["properties"]["text"] for f in body["features"]]

    assert "approved text, call [phone number]" in texts
    assert not any("pending" in t or "rejected" in t or "07700" in t for t in texts)
    assert sum(1 for t in texts if t) == 1
    point = body["features"][0]
    assert point["geometry"]["type"] == "Point"
    assert set(point["properties"]) == {
        "feeling",
        "severity",
        "reasons",
        "time_band",
        "felt_on",
        "area",
        "text",
    }


def test_report_points_are_paginated(force_planner):
    first = get(force_planner, "/api/v1/reports", page_size=50).json()
    second = get(force_planner, "/api/v1/reports", page_size=50, page=3).json()

    assert first["count"] == 102
    assert len(first["features"]) == 50
    assert first["next"] and first["previous"] is None
    assert len(second["features"]) == 2
    assert get(force_planner, "/api/v1/reports", page=99).status_code == 404


def test_report_points_take_the_same_filters(force_planner):
    night = get(force_planner, "/api/v1/reports", time_band="night").json()
    followed = get(force_planner, "/api/v1/reports", reasons="followed,isolated").json()
    hereford = get(force_planner, "/api/v1/reports", area="wm-herefordshire").json()

    assert night["count"] == 60
    assert {f["properties"]["time_band"] for f in night["features"]} == {"night"}
    assert night["features"][0]["properties"]["felt_on"] == "2026-10-15"
    assert followed["count"] == 40
    assert hereford["count"] == 2


def test_report_points_take_five_queries(
    force_planner, django_assert_num_queries: DjangoAssertNumQueries
):
    client = client_for(force_planner)
    client.get("/api/v1/reports")

    # The token, the organisation, the area asked for, the count, the page.
    with django_assert_num_queries(5):
        assert client.get("/api/v1/reports", {"area": "wm-shropshire"}).status_code == 200


def test_a_malformed_report_filter_is_a_400_naming_it(force_planner):
    response = get(force_planner, "/api/v1/reports", reasons="dragons")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["reasons"]


def test_the_app_still_sends_reports_to_the_same_path_without_credentials(reporter):
    from tests.conftest import a_report

    before = Report.objects.count()
    response = reporter.post("/api/v1/reports", a_report(), format="json")

    assert response.status_code == 201
    assert Report.objects.count() == before + 1


# Area summaries


def test_an_area_summary_counts_reasons_bands_and_names_its_top_places(force_planner):
    body = get(force_planner, "/api/v1/areas/wm-south-worcestershire/summary").json()

    assert body["code"] == "wm-south-worcestershire"
    assert body["unsafe"] == 60 and body["safe"] == 0
    assert body["by_reason"]["poor_lighting"] == 60
    assert body["by_band"] == {"day": 0, "evening": 0, "night": 60, "unknown": 0}
    assert body["monthly"] == [{"month": "2026-10", "unsafe": 60}]
    assert body["trend"] == "no clear trend"
    assert len(body["top_places"]) >= 1


def test_a_force_summary_is_that_of_its_policing_areas(force_planner):
    force = get(force_planner, "/api/v1/areas/E23000016/summary").json()
    parts = [
        get(force_planner, f"/api/v1/areas/{code}/summary").json()
        for code in (
            "wm-herefordshire",
            "wm-north-worcestershire",
            "wm-shropshire",
            "wm-south-worcestershire",
            "wm-telford-wrekin",
        )
    ]

    assert force["unsafe"] == sum(part["unsafe"] for part in parts) > 60
    assert force["by_reason"]["poor_lighting"] == sum(
        part["by_reason"]["poor_lighting"] for part in parts
    )
    assert force["top_places"]


def test_an_area_summary_takes_four_queries(
    force_planner, django_assert_num_queries: DjangoAssertNumQueries
):
    client = client_for(force_planner)
    client.get("/api/v1/areas/wm-shropshire/summary")

    # The token, the organisation, the area, the summary.
    with django_assert_num_queries(4):
        assert client.get("/api/v1/areas/wm-shropshire/summary").status_code == 200


# The public layer


def test_the_public_layer_needs_no_login_and_shows_only_coarse_populous_cells():
    found = features(client_for(None).get("/api/v1/public/hotspots"))

    assert found
    assert {f["properties"]["resolution"] for f in found} == {max(settings.HOTSPOT_RESOLUTIONS)}
    assert all(f["properties"]["unsafe"] >= settings.K_ANONYMITY for f in found)
    # Nothing but the coarse hexagon and its count: no ids, statistics, reasons or points.
    assert all(set(f) == {"type", "geometry", "properties"} for f in found)
    assert all(set(f["properties"]) == {"resolution", "unsafe"} for f in found)
    assert all(f["geometry"]["type"] == "Polygon" for f in found)
    # Hereford's two reports are in no public cell.
    assert not any(holds(f, HEREFORD) for f in found)


def test_no_finer_location_can_be_recovered_from_the_public_layer():
    """Every public hexagon is a whole 1 km cell: its vertices are the grid's own, so the
    geometry says nothing of where in the cell the reports were; and the counts of the
    cells around a place add up to no more than the cells' own, so no smaller cell can be
    derived from differences."""
    found = features(client_for(None).get("/api/v1/public/hotspots"))
    coarsest = max(settings.HOTSPOT_RESOLUTIONS)
    for feature in found:
        hexagon = GEOSGeometry(str(feature["geometry"]).replace("'", '"'), srid=4326)
        hexagon.transform(settings.ANALYSIS_SRID)
        # A regular hexagon as wide as the coarsest resolution, whoever's reports are in it.
        assert hexagon.area == pytest.approx(3 * 3**0.5 / 8 * coarsest**2, rel=1e-3)
    # The finer grid is never offered to the public.
    finer = client_for(None).get("/api/v1/public/hotspots", {"resolution": 200})
    assert {f["properties"]["resolution"] for f in features(finer)} == {coarsest}


def test_the_public_layer_leaves_out_cells_below_k(settings):
    settings.K_ANONYMITY = 61

    assert features(client_for(None).get("/api/v1/public/hotspots")) == []


def test_the_public_layer_takes_a_bbox_and_refuses_a_bad_one():
    box = f"{HEREFORD[0] - 0.05},{HEREFORD[1] - 0.05},{HEREFORD[0] + 0.05},{HEREFORD[1] + 0.05}"

    assert features(client_for(None).get("/api/v1/public/hotspots", {"in_bbox": box})) == []
    response = client_for(None).get("/api/v1/public/hotspots", {"in_bbox": "west"})
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["in_bbox"]
