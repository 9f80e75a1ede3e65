"""GET /tiles/{streetlights,cameras,coverage-gaps,interventions}/<z>/<x>/<y>.mvt: the asset
layers as vector tiles, decoded and checked against the database; when their cached tiles
move on (assets, reports, interventions) and when they do not.
"""

import datetime as dt
from typing import Any

import pytest
import yaml
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.gis.geos import Point
from pytest_django import DjangoAssertNumQueries
from pytest_django.fixtures import Settings as SettingsWrapper

from geo.assets import assets_changed
from geo.hotspots.rebuild import hotspots_rebuild
from geo.models import Camera, Intervention, Organisation, Streetlight
from tests.cast import client_for, planner_make
from tests.fixtures.points import LONDON, SHREWSBURY, WORCESTER
from tests.geo.asset_factories import (
    camera_at,
    intervention_at,
    light_at,
    lights_around,
    lights_unannounced,
)
from tests.geo.hotspot_factories import (
    XY,
    Row,
    common_centre,
    insert_reports,
    prime_study_cache,
    projected,
    use_coarse_grids,
)
from tests.geo.tile_helpers import decoded, properties, tile_of, tile_point, url

pytestmark = [pytest.mark.usefixtures("west_mercia"), pytest.mark.django_db]

LIGHT_PROPERTIES = {"id", "working", "label", "lamp_type", "wattage"}
CAMERA_PROPERTIES = {"id", "working", "label", "kind", "range_m"}
COUNT_PROPERTIES = {"count", "working", "faulty"}
GAP_PROPERTIES = {
    "i",
    "j",
    "resolution",
    "uncovered",
    "uncovered_reports",
    "covered",
    "covered_reports",
}
INTERVENTION_PROPERTIES = {"id", "kind", "date", "radius_m", "cost"}
NEW_LAYERS = ["streetlights", "cameras", "coverage-gaps", "interventions"]


def lonlat_of(asset: Streetlight | Camera | Intervention) -> tuple[float, float]:
    return asset.location.x, asset.location.y


# --------------------------------------------------------------------------------------
# Street lights and cameras
# --------------------------------------------------------------------------------------


def test_close_up_each_light_is_a_point_with_its_attributes(force_planner: User) -> None:
    lit = light_at(WORCESTER, lamp_type="LED", wattage=36, label="Angel Street")
    dark = light_at((WORCESTER[0] + 0.0004, WORCESTER[1]), working=False)
    zxy = tile_of(WORCESTER, 16)

    found = decoded(client_for(force_planner).get(url("streetlights", zxy)), "streetlights")

    by_id = {feature["properties"]["id"]: feature for feature in found}
    assert set(by_id) == {lit.pk, dark.pk}
    assert by_id[lit.pk]["properties"] == {
        "id": lit.pk,
        "working": True,
        "label": "Angel Street",
        "lamp_type": "LED",
        "wattage": 36,
    }
    # Empty text and unknown numbers are left out rather than sent as "" or 0.
    assert by_id[dark.pk]["properties"] == {"id": dark.pk, "working": False}
    for light in (lit, dark):
        assert set(by_id[light.pk]["properties"]) <= LIGHT_PROPERTIES
        assert tuple(by_id[light.pk]["geometry"]["coordinates"]) == tile_point(
            lonlat_of(light), zxy
        )


def test_far_out_lights_are_counted_in_cells_never_more_than_the_cap(
    force_planner: User, settings: SettingsWrapper
) -> None:
    settings.TILES_MAX_FEATURES = 16
    lights_around(WORCESTER, count=300, spread_m=1500, seed=1)
    lights_around(WORCESTER, count=50, spread_m=1500, seed=2, working=False)
    client = client_for(force_planner)

    for z in (9, 12, 14):
        counted = properties(client.get(url("streetlights", tile_of(WORCESTER, z))), "streetlights")

        assert 0 < len(counted) <= 16
        assert all(set(p) == COUNT_PROPERTIES for p in counted)
        assert all(p["count"] == p["working"] + p["faulty"] for p in counted)
        if z == 9:  # the whole town in one tile
            assert sum(p["count"] for p in counted) == 350
            assert sum(p["faulty"] for p in counted) == 50
    # Below TILES_ASSET_POINTS_MIN_ZOOM, counted however few.
    settings.TILES_MAX_FEATURES = 4096
    assert all(
        set(p) == COUNT_PROPERTIES
        for p in properties(client.get(url("streetlights", tile_of(WORCESTER, 9))), "streetlights")
    )
    close = properties(client.get(url("streetlights", tile_of(WORCESTER, 14))), "streetlights")
    assert close and all("id" in p for p in close)


def test_cameras_carry_their_kind_and_range(force_planner: User) -> None:
    public = camera_at(WORCESTER, kind=Camera.Kind.PUBLIC_SPACE, range_m=60, label="Cornmarket")
    traffic = camera_at((WORCESTER[0] + 0.0003, WORCESTER[1]), kind=Camera.Kind.TRAFFIC)
    client = client_for(force_planner)

    found = properties(client.get(url("cameras", tile_of(WORCESTER, 16))), "cameras")
    counted = properties(client.get(url("cameras", tile_of(WORCESTER, 8))), "cameras")

    assert sorted(found, key=lambda p: p["id"]) == [
        {
            "id": public.pk,
            "working": True,
            "label": "Cornmarket",
            "kind": "public_space",
            "range_m": 60,
        },
        {"id": traffic.pk, "working": True, "kind": "traffic"},
    ]
    assert all(set(p) <= CAMERA_PROPERTIES for p in found)
    assert sum(p["count"] for p in counted) == 2


def test_a_planner_of_another_organisation_gets_no_asset_of_the_first_ones_areas(
    force_planner: User, shropshire_planner: User
) -> None:
    shropshire_council = Organisation.objects.get(name="Shropshire Council")
    worcester = light_at(WORCESTER, organisation=shropshire_council)
    shrewsbury = light_at(SHREWSBURY)
    camera_at(WORCESTER)
    force = client_for(force_planner)
    council = client_for(shropshire_planner)

    for layer in ("streetlights", "cameras"):
        for z in (8, 16):
            assert decoded(force.get(url(layer, tile_of(WORCESTER, z))), layer)
            # Even its own light: it lies outside the council's areas.
            assert decoded(council.get(url(layer, tile_of(WORCESTER, z))), layer) == []
    seen = properties(council.get(url("streetlights", tile_of(SHREWSBURY, 16))), "streetlights")
    assert [p["id"] for p in seen] == [shrewsbury.pk]
    assert worcester.pk not in {p.get("id") for p in seen}


def test_the_area_and_box_filters_apply_to_assets(force_planner: User) -> None:
    light_at(WORCESTER)
    client = client_for(force_planner)
    zxy = tile_of(WORCESTER, 15)

    assert properties(
        client.get(url("streetlights", zxy), {"area": "wm-south-worcestershire"}), "streetlights"
    )
    assert client.get(url("streetlights", zxy), {"area": "wm-shropshire"}).status_code == 204
    far = f"{WORCESTER[0] + 0.1},{WORCESTER[1] + 0.1},{WORCESTER[0] + 0.2},{WORCESTER[1] + 0.2}"
    assert client.get(url("streetlights", zxy), {"in_bbox": far}).status_code == 204


# --------------------------------------------------------------------------------------
# Caching
# --------------------------------------------------------------------------------------


def test_an_asset_tile_moves_on_when_assets_change_and_only_then(
    force_planner: User, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    light_at(WORCESTER)
    client = client_for(force_planner)
    path = url("streetlights", tile_of(WORCESTER, 15))
    before = client.get(path)
    assert len(properties(before, "streetlights")) == 1

    # Cached: the token and the organisation, then the tile from Redis: the key is the
    # assets' version, kept in the cache, so no query for it either.
    with django_assert_num_queries(2):
        assert client.get(path).content == before.content
    with django_assert_num_queries(2):
        assert client.get(path, HTTP_IF_NONE_MATCH=before["ETag"]).status_code == 304

    # Written without a word to the cache: the tile stays as it was...
    x, y = projected(WORCESTER)
    lights_unannounced([(x + 15, y)])
    with django_assert_num_queries(2):
        assert client.get(path).content == before.content
    # ...until an import says so (assets_changed), or an asset is saved through the ORM.
    light_at(xy=(x - 15, y))
    after = client.get(path)

    assert after["ETag"] != before["ETag"]
    assert len(properties(after, "streetlights")) == 3
    assert client.get(path, HTTP_IF_NONE_MATCH=before["ETag"]).status_code == 200


def test_assets_changed_moves_the_light_and_gap_tiles_on(force_planner: User) -> None:
    c = common_centre(WORCESTER)
    insert_reports([Row(c[0] + k, c[1]) for k in range(5)])
    client = client_for(force_planner)
    lights = url("streetlights", tile_of(wgs84(c), 16))
    gap_tile = url("coverage-gaps", tile_of(wgs84(c), 16))
    assert decoded(client.get(lights), "streetlights") == []
    assert (
        sum(p["uncovered_reports"] for p in properties(client.get(gap_tile), "coverage-gaps")) == 5
    )

    lights_unannounced([(c[0] + 3, c[1])])
    # Cached, and nothing said: the old tiles.
    assert decoded(client.get(lights), "streetlights") == []
    assert properties(client.get(gap_tile), "coverage-gaps")
    assets_changed()

    assert len(decoded(client.get(lights), "streetlights")) == 1
    assert client.get(gap_tile).status_code == 204


def test_statements_are_prepared_once_per_connection(
    settings: SettingsWrapper,
    force_planner: User,
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    settings.TILES_CACHE = False
    light_at(WORCESTER)
    client = client_for(force_planner)
    path = url("streetlights", tile_of(WORCESTER, 16))
    first = client.get(path)

    # The token, the organisation, then EXECUTE alone: prepared on the first tile.
    with django_assert_num_queries(3):
        assert client.get(path).content == first.content


def test_a_tile_outside_the_data_is_empty_without_a_query_for_the_layer(
    force_planner: User, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    client = client_for(force_planner)
    assert client.get(url("streetlights", tile_of(LONDON, 11))).status_code == 204

    for layer in NEW_LAYERS:
        # 1. The token. 2. The planner's organisation: nothing of the layer.
        with django_assert_num_queries(2):
            assert client.get(url(layer, tile_of(LONDON, 12))).status_code == 204


# --------------------------------------------------------------------------------------
# Coverage gaps
# --------------------------------------------------------------------------------------


def wgs84(xy: XY) -> tuple[float, float]:
    point = Point(*xy, srid=settings.ANALYSIS_SRID).transform(4326, clone=True)
    assert isinstance(point, Point)
    return point.x, point.y


@pytest.fixture
def dark_street() -> XY:
    """Ten reports of poor lighting (a lighting gap) every 5 m east of C, the centre of one
    cell of every grid in Worcester, and three of no CCTV (a CCTV gap) just south of it; a
    faulty light among them."""
    c = common_centre(WORCESTER)
    insert_reports([Row(c[0] + 5 * k, c[1]) for k in range(10)])
    insert_reports([Row(c[0], c[1] - 3 * k, reasons=("no_cctv",)) for k in range(3)])
    light_at(xy=(c[0] + 9, c[1]), working=False)
    return c


def test_a_gap_tile_holds_the_cells_of_uncovered_demand(
    dark_street: XY, force_planner: User
) -> None:
    client = client_for(force_planner)
    here = wgs84(dark_street)

    for z, resolution in ((10, 1000), (13, 200), (16, 50)):
        found = decoded(client.get(url("coverage-gaps", tile_of(here, z))), "coverage-gaps")

        assert found
        assert all(f["geometry"]["type"] == "Polygon" for f in found)
        cells = [f["properties"] for f in found]
        assert all(set(p) == GAP_PROPERTIES for p in cells)
        assert {p["resolution"] for p in cells} == {resolution}
        assert sum(p["uncovered_reports"] for p in cells) == 10
        assert sum(p["covered_reports"] for p in cells) == 0
        # Severity 2 weighs 2, all received within the hour (rounded to 2 decimals).
        assert sum(p["uncovered"] for p in cells) == pytest.approx(20, rel=2e-3)

    cctv = properties(
        client.get(url("coverage-gaps", tile_of(here, 16)), {"intervention": "cctv"}),
        "coverage-gaps",
    )
    assert sum(p["uncovered_reports"] for p in cctv) == 3
    # An explicit resolution wins over the zoom's.
    coarse = properties(
        client.get(url("coverage-gaps", tile_of(here, 16)), {"resolution": 1000}),
        "coverage-gaps",
    )
    assert {p["resolution"] for p in coarse} == {1000}


def test_a_working_light_next_to_the_demand_changes_the_gap_tile(
    dark_street: XY, force_planner: User
) -> None:
    client = client_for(force_planner)
    path = url("coverage-gaps", tile_of(wgs84(dark_street), 13))
    before = client.get(path)
    assert sum(p["uncovered_reports"] for p in properties(before, "coverage-gaps")) == 10

    # 12, 17 and 22 m from the first three reports, 27 m and more from the rest.
    light_at(xy=(dark_street[0] - 12, dark_street[1]))
    after = client.get(path)

    assert after["ETag"] != before["ETag"]
    (cell,) = properties(after, "coverage-gaps")
    assert (cell["uncovered_reports"], cell["covered_reports"]) == (7, 3)
    assert cell["uncovered"] == pytest.approx(14, rel=2e-3)
    assert cell["covered"] == pytest.approx(6, rel=2e-3)
    # A light does nothing for CCTV.
    cctv = properties(client.get(path, {"intervention": "cctv"}), "coverage-gaps")
    assert [p["uncovered_reports"] for p in cctv] == [3]


# A rebuild's own connections must see the reports, so this test commits them.
@pytest.mark.django_db(transaction=True)
def test_gap_tiles_move_on_with_the_hotspot_generation(
    dark_street: XY, force_planner: User, settings: SettingsWrapper
) -> None:
    use_coarse_grids(settings)
    prime_study_cache()
    client = client_for(force_planner)
    path = url("coverage-gaps", tile_of(wgs84(dark_street), 13))
    before = client.get(path)

    insert_reports([Row(dark_street[0] - 20, dark_street[1] + k) for k in range(5)])
    # New reports wait for the next rebuild, as every tile of reports does.
    assert client.get(path).content == before.content
    hotspots_rebuild()
    after = client.get(path)

    assert after["ETag"] != before["ETag"]
    assert sum(p["uncovered_reports"] for p in properties(after, "coverage-gaps")) == 15


def test_a_planner_of_another_organisation_gets_no_gap_from_the_first_ones_reports(
    dark_street: XY, shropshire_planner: User
) -> None:
    client = client_for(shropshire_planner)

    for z in (10, 13, 16):
        path = url("coverage-gaps", tile_of(wgs84(dark_street), z))
        assert decoded(client.get(path), "coverage-gaps") == []


# --------------------------------------------------------------------------------------
# Interventions
# --------------------------------------------------------------------------------------


def test_interventions_show_in_the_areas_of_each_planner_and_their_own_anywhere(
    force_planner: User, shropshire_planner: User
) -> None:
    police = Organisation.objects.get(name="West Mercia Police")
    council = Organisation.objects.get(name="Shropshire Council")
    lamp = intervention_at(
        WORCESTER,
        organisation=police,
        area_code="wm-south-worcestershire",
        cost="1200.50",
        note="Call 07700 900123 about it",
    )
    camera = intervention_at(
        (WORCESTER[0] + 0.0004, WORCESTER[1]),
        organisation=council,
        area_code="wm-south-worcestershire",
        kind=Intervention.Kind.NEW_CAMERA,
        date=dt.date(2026, 3, 1),
    )
    zxy = tile_of(WORCESTER, 16)

    force = decoded(client_for(force_planner).get(url("interventions", zxy)), "interventions")
    shropshire = properties(
        client_for(shropshire_planner).get(url("interventions", zxy)), "interventions"
    )

    by_id = {f["properties"]["id"]: f for f in force}
    assert set(by_id) == {lamp.pk, camera.pk}
    assert by_id[lamp.pk]["properties"] == {
        "id": lamp.pk,
        "kind": "new_light",
        "date": "2026-01-15",
        "radius_m": 100,
        "cost": 1200.5,
    }
    assert set(by_id[camera.pk]["properties"]) == INTERVENTION_PROPERTIES - {"cost"}
    assert tuple(by_id[lamp.pk]["geometry"]["coordinates"]) == tile_point(lonlat_of(lamp), zxy)
    assert "07700" not in str(force)
    # The council sees its own camera in Worcester, not the force's light there.
    assert [p["id"] for p in shropshire] == [camera.pk]


def test_an_intervention_tile_moves_on_when_one_is_added_changed_or_deleted(
    force_planner: User,
) -> None:
    police = Organisation.objects.get(name="West Mercia Police")
    client = client_for(force_planner)
    path = url("interventions", tile_of(WORCESTER, 15))
    assert client.get(path).status_code == 204

    first = intervention_at(WORCESTER, organisation=police, area_code="wm-south-worcestershire")
    added = client.get(path)
    assert [p["kind"] for p in properties(added, "interventions")] == ["new_light"]

    first.kind = Intervention.Kind.LIGHT_REPAIRED
    first.save(update_fields=["kind", "updated_at"])
    assert [p["kind"] for p in properties(client.get(path), "interventions")] == ["light_repaired"]

    first.delete()
    assert client.get(path).status_code == 204


# --------------------------------------------------------------------------------------
# Who may ask, and bad requests
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("layer", NEW_LAYERS)
def test_anyone_but_a_planner_is_refused(layer: str) -> None:
    path = url(layer, tile_of(WORCESTER, 14))

    anonymous = client_for(None).get(path)
    not_a_planner = client_for(planner_make("clerk", in_group=False)).get(path)

    assert anonymous.status_code == 401
    assert not_a_planner.status_code == 403
    assert "vector-tile" not in anonymous["Content-Type"]


@pytest.mark.parametrize(
    ("layer", "params", "named"),
    [
        ("coverage-gaps", {"intervention": "patrol"}, "intervention"),
        ("coverage-gaps", {"intervention": ["lighting", "cctv"]}, "intervention"),
        ("coverage-gaps", {"resolution": "75"}, "resolution"),
        ("streetlights", {"area": "wm-nowhere"}, "area"),
        ("cameras", {"in_bbox": "1,2"}, "in_bbox"),
        ("interventions", {"area": "wm-nowhere"}, "area"),
    ],
)
def test_a_malformed_parameter_is_a_400_naming_it(
    force_planner: User, layer: str, params: dict[str, Any], named: str
) -> None:
    client = client_for(force_planner)
    path = url(layer, tile_of(WORCESTER, 14))

    response = client.get(path, params)

    assert response.status_code == 400
    assert list(response.json()["errors"]) == [named]
    assert client.get(path).status_code in (200, 204)


def test_the_schema_documents_the_asset_tile_layers() -> None:
    schema = yaml.safe_load(client_for(None).get("/api/schema").content)

    for layer, params in (
        ("streetlights", {"area", "in_bbox"}),
        ("cameras", {"area", "in_bbox"}),
        ("coverage-gaps", {"intervention", "resolution", "area", "in_bbox"}),
        ("interventions", {"area", "in_bbox"}),
    ):
        operation = schema["paths"][f"/tiles/{layer}/{{z}}/{{x}}/{{y}}.mvt"]["get"]
        assert {"z", "x", "y"} | params <= {p["name"] for p in operation["parameters"]}
        assert "application/vnd.mapbox-vector-tile" in operation["responses"]["200"]["content"]
        assert {"401", "403", "400"} <= set(operation["responses"])
