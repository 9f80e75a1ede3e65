"""GET /api/v1/streetlights, /api/v1/cameras and /api/v1/coverage-gaps: what each returns,
to whom, under which filters and pages, and in how many queries.

Assets belong to a planner by where they lie, not by who owns them: the force sees every
light in West Mercia, Shropshire Council only those in Shropshire, whoever's register they
came from. Coverage gaps are checked against reports and assets placed a known number of
metres apart in the analysis SRID, around the centre of one cell of every grid.
"""

from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from pytest_django import DjangoAssertNumQueries
from pytest_django.fixtures import Settings as SettingsWrapper

from geo.management.commands.load_west_mercia import FORCE_CODE
from geo.models import Camera, Organisation, Streetlight
from tests.cast import client_for, organisation_make, planner_make
from tests.fixtures.points import LONDON, SHREWSBURY, WORCESTER
from tests.geo.asset_factories import camera_at, light_at, lights_around
from tests.geo.hotspot_factories import XY, Row, common_centre, insert_reports, projected

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("west_mercia")]

URLS = ["/api/v1/streetlights", "/api/v1/cameras", "/api/v1/coverage-gaps"]


def ids(response: Any) -> set[int]:
    assert response.status_code == 200, response.content
    return {feature["id"] for feature in response.json()["features"]}


def near(lonlat: tuple[float, float], east_m: float, north_m: float = 0.0) -> XY:
    x, y = projected(lonlat)
    return x + east_m, y + north_m


# --------------------------------------------------------------------------------------
# Who may see what
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", URLS)
def test_an_anonymous_request_is_refused(url: str) -> None:
    response = client_for(None).get(url)

    assert response.status_code == 401
    assert set(response.json()) == {"detail"}


@pytest.mark.parametrize("url", URLS)
def test_a_user_who_is_not_a_planner_is_refused(url: str, west_mercia_police: Any) -> None:
    clerk = planner_make("clerk", west_mercia_police, in_group=False)

    assert client_for(clerk).get(url).status_code == 403


def test_a_planner_sees_the_lights_inside_their_areas_whoever_owns_them(
    force_planner: User, shropshire_planner: User, shropshire_council: Organisation
) -> None:
    elsewhere = organisation_make("Bristol City Council")
    worcester = {
        light_at(WORCESTER).pk,
        light_at(WORCESTER, organisation=elsewhere).pk,
        light_at(WORCESTER, organisation=shropshire_council).pk,
    }
    shrewsbury = {light_at(SHREWSBURY).pk, light_at(SHREWSBURY, organisation=elsewhere).pk}
    london = light_at(LONDON, organisation=shropshire_council).pk

    force = ids(client_for(force_planner).get("/api/v1/streetlights"))
    council = ids(client_for(shropshire_planner).get("/api/v1/streetlights"))

    assert force == worcester | shrewsbury
    # Shropshire's own register does not bring Worcester's or London's light into view.
    assert council == shrewsbury
    assert london not in force | council


def test_a_planner_of_another_organisation_sees_nothing_of_the_first_ones_areas(
    force_planner: User, shropshire_planner: User
) -> None:
    camera_at(WORCESTER, kind=Camera.Kind.PUBLIC_SPACE)
    light_at(WORCESTER)
    # Reports of poor lighting 100 m and more from the light: a gap.
    insert_reports([Row(*near(WORCESTER, 0, 100 + 5 * k)) for k in range(5)])
    council = client_for(shropshire_planner)
    force = client_for(force_planner)

    for url in URLS:
        assert force.get(url).json()["features"]
        assert council.get(url).json()["features"] == []
    # Asking for the other area by name is as asking for one that does not exist.
    response = council.get("/api/v1/streetlights", {"area": "wm-south-worcestershire"})
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["area"]


# --------------------------------------------------------------------------------------
# Street lights and cameras
# --------------------------------------------------------------------------------------


def test_a_light_carries_its_attributes_and_point(force_planner: User) -> None:
    owner = Organisation.objects.get(name="West Mercia Police")
    light = light_at(
        WORCESTER,
        organisation=owner,
        external_id="WOR-0001",
        label="Angel Street",
        working=False,
        lamp_type="LED",
        wattage=36,
    )

    (feature,) = client_for(force_planner).get("/api/v1/streetlights").json()["features"]

    assert feature["id"] == light.pk
    assert feature["geometry"]["type"] == "Point"
    assert feature["geometry"]["coordinates"] == pytest.approx(list(WORCESTER))
    assert feature["properties"] == {
        "external_id": "WOR-0001",
        "label": "Angel Street",
        "working": False,
        "lamp_type": "LED",
        "wattage": 36,
        "owner": "West Mercia Police",
        "updated_at": feature["properties"]["updated_at"],
    }


def test_lights_are_paginated_by_id(force_planner: User) -> None:
    made = lights_around(WORCESTER, count=12, spread_m=200, seed=1)
    client = client_for(force_planner)

    pages = [
        client.get("/api/v1/streetlights", {"page_size": 5, "page": page}).json()
        for page in (1, 2, 3)
    ]

    assert [page["count"] for page in pages] == [12, 12, 12]
    assert [len(page["features"]) for page in pages] == [5, 5, 2]
    assert pages[0]["next"] and pages[2]["next"] is None
    found = [feature["id"] for page in pages for feature in page["features"]]
    assert found == sorted(light.pk for light in made)
    # The default page is ASSETS_PAGE_SIZE; a page past the last is a 404.
    assert len(client.get("/api/v1/streetlights").json()["features"]) == 12
    assert client.get("/api/v1/streetlights", {"page": 4, "page_size": 5}).status_code == 404


def test_the_page_size_is_capped(force_planner: User, settings: SettingsWrapper) -> None:
    settings.ASSETS_MAX_PAGE_SIZE = 3
    lights_around(WORCESTER, count=5, spread_m=100, seed=2)

    page = client_for(force_planner).get("/api/v1/streetlights", {"page_size": 1000}).json()

    assert len(page["features"]) == 3


def test_lights_filter_by_working_box_and_area(force_planner: User) -> None:
    working = light_at(WORCESTER)
    faulty = light_at(WORCESTER, working=False)
    shropshire = light_at(SHREWSBURY)
    client = client_for(force_planner)

    def found(**params: str) -> set[int]:
        return ids(client.get("/api/v1/streetlights", params))

    assert found() == {working.pk, faulty.pk, shropshire.pk}
    assert found(working="true") == {working.pk, shropshire.pk}
    assert found(working="false") == {faulty.pk}
    around_shrewsbury = (
        f"{SHREWSBURY[0] - 0.01},{SHREWSBURY[1] - 0.01},{SHREWSBURY[0] + 0.01},"
        f"{SHREWSBURY[1] + 0.01}"
    )
    assert found(in_bbox=around_shrewsbury) == {shropshire.pk}
    assert found(area="wm-shropshire") == {shropshire.pk}
    # The force area holds its policing areas, and so every light in them.
    assert found(area=FORCE_CODE) == {working.pk, faulty.pk, shropshire.pk}


def test_cameras_filter_by_kind_and_carry_it(force_planner: User) -> None:
    public = camera_at(WORCESTER, kind=Camera.Kind.PUBLIC_SPACE, range_m=80)
    traffic = camera_at(WORCESTER, kind=Camera.Kind.TRAFFIC)
    private = camera_at(SHREWSBURY, kind=Camera.Kind.PRIVATE, working=False)
    client = client_for(force_planner)

    def found(**params: str) -> set[int]:
        return ids(client.get("/api/v1/cameras", params))

    assert found() == {public.pk, traffic.pk, private.pk}
    assert found(kind="traffic") == {traffic.pk}
    assert found(kind="traffic,private") == {traffic.pk, private.pk}
    assert found(kind="public_space", working="true") == {public.pk}
    assert found(working="false") == {private.pk}
    features = client.get("/api/v1/cameras", {"kind": "public_space"}).json()["features"]
    assert features[0]["properties"]["kind"] == "public_space"
    assert features[0]["properties"]["range_m"] == 80
    assert features[0]["properties"]["owner"] is None


def test_a_light_list_takes_four_queries(
    force_planner: User, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    lights_around(WORCESTER, count=3, spread_m=50, seed=3)
    client = client_for(force_planner)
    client.get("/api/v1/streetlights")  # caches the organisation's areas

    # 1. The token. 2. The organisation. 3. The count. 4. The page, with owners joined.
    with django_assert_num_queries(4):
        response = client.get("/api/v1/streetlights")

    assert response.json()["count"] == 3


# --------------------------------------------------------------------------------------
# Coverage gaps
# --------------------------------------------------------------------------------------


@pytest.fixture
def demand() -> XY:
    """Reports and assets around C, the centre of one cell of every grid in Worcester.

    Lighting: 6 reports of poor lighting (severity 1) 0-5 m east of C, lit by a working
    light 10 m east of C; 4 (severity 3) 40 m north of C, where only a faulty light stands.
    CCTV: 3 reports of no CCTV 30 m west of C, 20 m from a working public-space camera;
    2 of being followed 60 m east of C, seen only by a traffic camera. And a safe report.
    """
    c = common_centre(WORCESTER)
    rows = [Row(c[0] + k, c[1], severity=1) for k in range(6)]
    rows += [Row(c[0] + k, c[1] + 40, severity=3) for k in range(4)]
    rows += [Row(c[0] - 30, c[1] + k, reasons=("no_cctv",)) for k in range(3)]
    rows += [Row(c[0] + 60, c[1] + k, reasons=("followed",)) for k in range(2)]
    rows += [Row(c[0], c[1], feeling="safe", reasons=(), severity=None)]
    insert_reports(rows)
    light_at(xy=(c[0] + 10, c[1]))
    light_at(xy=(c[0], c[1] + 40), working=False)
    camera_at(xy=(c[0] - 30, c[1] + 20), kind=Camera.Kind.PUBLIC_SPACE)
    camera_at(xy=(c[0] + 60, c[1]), kind=Camera.Kind.TRAFFIC)
    return c


def holds(cell: dict[str, Any], xy: XY) -> bool:
    """Whether PostGIS's own hexagon of the cell holds a point of the analysis SRID."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_Covers(ST_Hexagon(%s / 2.0, %s, %s, ST_SetSRID(ST_MakePoint(0, 0), %s)),"
            " ST_SetSRID(ST_MakePoint(%s, %s), %s))",
            [
                cell["resolution"],
                cell["i"],
                cell["j"],
                settings.ANALYSIS_SRID,
                *xy,
                settings.ANALYSIS_SRID,
            ],
        )
        return bool(cursor.fetchone()[0])


def cells(found: list[dict[str, Any]]) -> list[tuple[int, int, int, int]]:
    """The cells and their counts: weights are taken at the moment of each query, so two
    answers without a live generation differ in the last digits of their weights."""
    return [(c["i"], c["j"], c["uncovered_reports"], c["covered_reports"]) for c in found]


def gaps(client: Any, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/api/v1/coverage-gaps", params)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["type"] == "FeatureCollection"
    for feature in body["features"]:
        assert feature["geometry"]["type"] == "Polygon"
        assert "id" not in feature
    return [feature["properties"] for feature in body["features"]]


def test_lighting_gaps_count_what_no_working_light_covers(demand: XY, force_planner: User) -> None:
    (cell,) = gaps(client_for(force_planner), intervention="lighting")

    assert cell["intervention"] == "lighting"
    assert cell["resolution"] == 200
    assert holds(cell, demand)
    # The four under the faulty light are uncovered; the six by the working one covered.
    assert cell["uncovered_reports"] == 4
    assert cell["covered_reports"] == 6
    assert cell["demand_reports"] == 10
    # Severity 3 weighs 3, severity 1 weighs 1, all felt (received) within the hour.
    assert cell["uncovered"] == pytest.approx(4 * 3, rel=1e-3)
    assert cell["covered"] == pytest.approx(6 * 1, rel=1e-3)
    assert cell["demand"] == pytest.approx(18, rel=1e-3)


def test_cctv_gaps_count_only_working_public_space_cameras_as_cover(
    demand: XY, force_planner: User
) -> None:
    (cell,) = gaps(client_for(force_planner), intervention="cctv")

    assert cell["intervention"] == "cctv"
    # The traffic camera does not count: the two reports of being followed stay uncovered.
    assert (cell["uncovered_reports"], cell["covered_reports"]) == (2, 3)
    assert cell["uncovered"] == pytest.approx(2 * 2, rel=1e-3)


def test_lighting_is_the_default_and_a_covered_cell_is_no_gap(
    demand: XY, force_planner: User
) -> None:
    client = client_for(force_planner)
    assert cells(gaps(client)) == cells(gaps(client, intervention="lighting"))

    # A working light by the four: nothing is left uncovered, and the cell goes.
    light_at(xy=(demand[0] + 2, demand[1] + 45))

    assert gaps(client) == []


def test_each_resolution_bins_the_reports_in_its_own_hexagons(
    demand: XY, force_planner: User
) -> None:
    client = client_for(force_planner)

    for resolution in settings.HOTSPOT_RESOLUTIONS:
        cells = gaps(client, resolution=resolution)

        assert {cell["resolution"] for cell in cells} == {resolution}
        assert sum(cell["uncovered_reports"] for cell in cells) == 4
        assert sum(cell["covered_reports"] for cell in cells) <= 6
        # Every uncovered report lies in the hexagon of a cell that counts it.
        for k in range(4):
            assert any(holds(cell, (demand[0] + k, demand[1] + 40)) for cell in cells)


def test_gaps_are_of_the_planners_own_areas_and_filter_by_area_and_box(
    demand: XY, force_planner: User, shropshire_planner: User
) -> None:
    insert_reports([Row(*near(SHREWSBURY, 0, 3 * k)) for k in range(3)])
    force = client_for(force_planner)
    council = client_for(shropshire_planner)

    both = cells(gaps(force))
    shropshire = cells(gaps(council))
    lon, lat = SHREWSBURY
    box = f"{lon - 0.01},{lat - 0.01},{lon + 0.01},{lat + 0.01}"

    assert sorted(uncovered for _, _, uncovered, _ in both) == [3, 4]
    assert [uncovered for _, _, uncovered, _ in shropshire] == [3]
    assert cells(gaps(force, area="wm-shropshire")) == shropshire
    assert cells(gaps(force, in_bbox=box)) == shropshire
    assert cells(gaps(force, area=FORCE_CODE)) == both
    assert cells(gaps(council, in_bbox=box)) == shropshire


def test_too_many_gap_cells_is_a_400_naming_the_box(
    demand: XY, force_planner: User, settings: SettingsWrapper
) -> None:
    insert_reports([Row(*near(SHREWSBURY, 0, 0))])
    settings.HOTSPOTS_MAX_CELLS = 1
    client = client_for(force_planner)

    response = client.get("/api/v1/coverage-gaps")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["in_bbox"]
    assert len(gaps(client, area="wm-shropshire")) == 1


def test_gaps_take_four_queries_with_a_box_and_five_without(
    demand: XY, force_planner: User, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    client = client_for(force_planner)
    client.get("/api/v1/coverage-gaps")  # caches the organisation's areas
    lon, lat = WORCESTER

    # 1. The token. 2. The organisation. 3. The live generation (when weights are taken).
    # 4. The cells.
    with django_assert_num_queries(4):
        boxed = gaps(client, in_bbox=f"{lon - 0.02},{lat - 0.02},{lon + 0.02},{lat + 0.02}")
    # And the extent of the planner's areas, where there is no box.
    with django_assert_num_queries(5):
        everywhere = gaps(client)

    assert cells(boxed) == cells(everywhere)


# --------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "params", "named"),
    [
        ("/api/v1/streetlights", {"working": "maybe"}, "working"),
        ("/api/v1/streetlights", {"working": ["true", "false"]}, "working"),
        ("/api/v1/streetlights", {"in_bbox": "1,2"}, "in_bbox"),
        ("/api/v1/streetlights", {"area": "wm-nowhere"}, "area"),
        ("/api/v1/cameras", {"kind": "drone"}, "kind"),
        ("/api/v1/cameras", {"in_bbox": "-2.3,52.2,-2.4,52.3"}, "in_bbox"),
        ("/api/v1/coverage-gaps", {"intervention": "patrol"}, "intervention"),
        ("/api/v1/coverage-gaps", {"resolution": "75"}, "resolution"),
        ("/api/v1/coverage-gaps", {"area": "wm-nowhere"}, "area"),
        ("/api/v1/coverage-gaps", {"in_bbox": "a,b,c,d"}, "in_bbox"),
    ],
)
def test_a_malformed_parameter_is_a_400_naming_it(
    force_planner: User, url: str, params: dict[str, Any], named: str
) -> None:
    light_at(WORCESTER)
    client = client_for(force_planner)

    response = client.get(url, params)

    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "Invalid input."
    assert list(body["errors"]) == [named]
    assert body["errors"][named][0]
    # Without it the same request is answered, and nothing was changed by the first.
    assert client.get(url).status_code == 200
    assert Streetlight.objects.count() == 1


def test_every_faulty_parameter_is_named_at_once(force_planner: User) -> None:
    response = client_for(force_planner).get(
        "/api/v1/coverage-gaps", {"intervention": "patrol", "resolution": "75"}
    )

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"intervention", "resolution"}
