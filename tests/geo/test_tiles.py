"""GET /tiles/<layer>/<z>/<x>/<y>.mvt: the layers as vector tiles, decoded and checked
against the database, for planners of two organisations and for anyone."""

from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from django.conf import settings
from django.db import connection
from pytest_django import DjangoAssertNumQueries
from pytest_django.fixtures import Settings as SettingsWrapper

from geo.hotspots.rebuild import hotspots_rebuild
from geo.models import Area, HotspotCell, HotspotGeneration
from geo.tiles import STATEMENTS
from reports.models import Report
from tests.cast import client_for, planner_make
from tests.fixtures.points import KIDDERMINSTER, LONDON, SHREWSBURY, WORCESTER
from tests.geo.hotspot_factories import (
    Row,
    insert_reports,
    prime_study_cache,
    projected,
    reports_around,
    use_coarse_grids,
)
from tests.geo.tile_helpers import (
    decoded,
    properties,
    tile_centre,
    tile_of,
    tile_point,
    url,
)

pytestmark = [pytest.mark.usefixtures("west_mercia"), pytest.mark.django_db]
# A rebuild's own connections must see the reports, so these tests commit them.
committed = pytest.mark.django_db(transaction=True)

HOTSPOT_PROPERTIES = {
    "id",
    "i",
    "j",
    "resolution",
    "gi_class",
    "gi_z",
    "unsafe",
    "safe",
    "reports",
    "score",
    "trend",
}
REPORT_PROPERTIES = {"id", "feeling", "severity", "band", "reasons"}
COUNT_PROPERTIES = {"count", "unsafe", "safe"}
PLACE_PROPERTIES = {"id", "label", "report_count", "top_reasons", "night_share"}


@pytest.fixture
def coarse(settings: SettingsWrapper) -> None:
    """200 m and 1 km only (50 m is most of a rebuild's time), study areas cached."""
    use_coarse_grids(settings)
    prime_study_cache()


@pytest.fixture
def towns(coarse: None) -> HotspotGeneration:
    """Reports over 400 m of Worcester and 300 m of Shrewsbury, each town with a tight
    cluster of no-CCTV reports (a place), and one lone report in Kidderminster; rebuilt."""
    reports_around(WORCESTER, count=60, spread_m=400, seed=1)
    reports_around(WORCESTER, count=15, spread_m=15, seed=2, reasons=("no_cctv",))
    reports_around(SHREWSBURY, count=40, spread_m=300, seed=3)
    reports_around(SHREWSBURY, count=15, spread_m=15, seed=4, reasons=("no_cctv",))
    reports_around(KIDDERMINSTER, count=1, spread_m=1, seed=5)
    return hotspots_rebuild()


def cells_in_tile(
    zxy: tuple[int, int, int], *, resolution: int, **where: Any
) -> dict[tuple[int, int], HotspotCell]:
    """The live generation's own cells whose hexagon meets the tile and its buffer, found
    by PostGIS without the tiles' shortcuts."""
    ids = [
        cell_id
        for (cell_id,) in _rows(
            "SELECT c.id FROM geo_hotspotcell c"
            " JOIN geo_hotspotgeneration g ON g.id = c.generation_id AND g.status = 'live'"
            " WHERE c.slice_id IS NULL AND c.resolution = %s AND ST_Intersects("
            "  ST_Transform(ST_Hexagon(c.resolution / 2.0, c.i, c.j,"
            "   ST_SetSRID(ST_MakePoint(0, 0), %s)), 3857),"
            "  ST_TileEnvelope(%s, %s, %s, margin => 64 / 4096.0))",
            [resolution, settings.ANALYSIS_SRID, *zxy],
        )
    ]
    cells = HotspotCell.objects.filter(pk__in=ids, **where)
    return {(cell.i, cell.j): cell for cell in cells}


def reports_in_tile(zxy: tuple[int, int, int], *, buffer: int = 0) -> set[str]:
    """The reports in the tile, or in it and its buffer (tile units of 4096)."""
    return {
        str(report_id)
        for (report_id,) in _rows(
            "SELECT id FROM reports_report WHERE ST_Intersects(ST_Transform(location, 3857),"
            " ST_TileEnvelope(%s, %s, %s, margin => %s / 4096.0))",
            [*zxy, buffer],
        )
    }


def _rows(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def area_id(code: str) -> int:
    return Area.objects.get(code=code).pk


# --------------------------------------------------------------------------------------
# Hotspots
# --------------------------------------------------------------------------------------


@committed
def test_a_hotspot_tile_carries_the_live_cells_of_its_zoom_with_their_properties(
    towns: HotspotGeneration, force_planner: Any
) -> None:
    client = client_for(force_planner)
    for z, resolution in ((10, 1000), (13, 200)):
        zxy = tile_of(WORCESTER, z)

        found = decoded(client.get(url("hotspots", zxy)), "hotspots")

        expected = cells_in_tile(zxy, resolution=resolution)
        assert expected
        assert {(f["properties"]["i"], f["properties"]["j"]) for f in found} == set(expected)
        for feature in found:
            props = feature["properties"]
            cell = expected[props["i"], props["j"]]
            assert set(props) <= HOTSPOT_PROPERTIES
            assert {"id", "i", "j", "resolution", "gi_class", "gi_z", "reports"} <= set(props)
            assert props["id"] == cell.pk
            assert props["resolution"] == resolution
            assert (props["unsafe"], props["safe"], props["reports"]) == (
                cell.unsafe,
                cell.safe,
                cell.reports,
            )
            assert props["gi_class"] == cell.gi_class
            assert props["gi_z"] == pytest.approx(cell.gi_z, abs=0.005)
            assert feature["geometry"]["type"] == "Polygon"

    # An explicit resolution wins over the zoom's.
    zxy = tile_of(WORCESTER, 13)
    coarse = properties(client.get(url("hotspots", zxy), {"resolution": 1000}), "hotspots")
    assert {p["resolution"] for p in coarse} == {1000}


@committed
def test_the_reason_filter_gives_the_cells_of_those_reports_only(
    towns: HotspotGeneration, force_planner: Any
) -> None:
    client = client_for(force_planner)
    zxy = tile_of(WORCESTER, 13)

    everything = properties(client.get(url("hotspots", zxy)), "hotspots")
    no_cctv = properties(client.get(url("hotspots", zxy), {"reasons": "no_cctv"}), "hotspots")

    assert sum(p["unsafe"] for p in everything) == 75
    # Only the tight cluster of 15 no-CCTV reports, in its own slice's cells.
    assert sum(p["unsafe"] for p in no_cctv) == 15
    assert len(no_cctv) < len(everything)


@committed
def test_a_planner_of_another_organisation_gets_nothing_from_outside_their_areas(
    towns: HotspotGeneration, shropshire_planner: Any, force_planner: Any
) -> None:
    shropshire = client_for(shropshire_planner)
    force = client_for(force_planner)
    shropshire_reports = {
        str(pk)
        for pk in Report.objects.filter(area_id=area_id("wm-shropshire")).values_list(
            "pk", flat=True
        )
    }
    assert len(shropshire_reports) == 55

    for layer, z in (("hotspots", 13), ("reports", 13), ("reports", 16), ("places", 15)):
        worcester = url(layer, tile_of(WORCESTER, z))
        shrewsbury = url(layer, tile_of(SHREWSBURY, z))

        # The force sees Worcester; Shropshire Council sees nothing of it.
        assert decoded(force.get(worcester), layer)
        assert decoded(shropshire.get(worcester), layer) == []
        assert decoded(shropshire.get(shrewsbury), layer)

    # Further out, the reports are counted from the generation's finest cells.
    zxy = tile_of(WORCESTER, 11)
    counted = properties(force.get(url("reports", zxy)), "reports")
    assert all(set(p) == COUNT_PROPERTIES for p in counted)
    assert sum(p["count"] for p in counted) == len(reports_in_tile(zxy)) == 75
    assert decoded(shropshire.get(url("reports", zxy)), "reports") == []
    points = properties(shropshire.get(url("reports", tile_of(SHREWSBURY, 16))), "reports")
    assert points and {p["id"] for p in points} <= shropshire_reports
    cells = properties(shropshire.get(url("hotspots", tile_of(SHREWSBURY, 13))), "hotspots")
    assert {HotspotCell.objects.get(pk=p["id"]).area_id for p in cells} == {
        area_id("wm-shropshire")
    }
    places = properties(shropshire.get(url("places", tile_of(SHREWSBURY, 15))), "places")
    assert len(places) == 1
    assert set(places[0]) == PLACE_PROPERTIES
    # The tight cluster, and maybe a report of the wider spread that fell within reach.
    assert places[0]["report_count"] in (15, 16)
    assert places[0]["top_reasons"].split(",")[0] == "no_cctv"


@committed
def test_places_are_hulls_close_up_and_centroids_further_out(
    towns: HotspotGeneration, force_planner: Any
) -> None:
    client = client_for(force_planner)

    close = decoded(client.get(url("places", tile_of(WORCESTER, 16))), "places")
    far = decoded(client.get(url("places", tile_of(WORCESTER, 10))), "places")

    assert [f["geometry"]["type"] for f in close] == ["Polygon"]
    assert {f["geometry"]["type"] for f in far} == {"Point"}
    assert all(f["properties"]["report_count"] >= 15 for f in far)


# --------------------------------------------------------------------------------------
# Who may see what
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("layer", ["hotspots", "reports", "places"])
def test_anyone_but_a_planner_is_refused_a_planner_layer(layer: str) -> None:
    path = url(layer, tile_of(WORCESTER, 12))

    anonymous = client_for(None).get(path)
    not_a_planner = client_for(planner_make("clerk", in_group=False)).get(path)

    assert anonymous.status_code == 401
    assert not_a_planner.status_code == 403
    assert set(anonymous.json()) == {"detail"}
    assert "vector-tile" not in anonymous["Content-Type"]


@committed
def test_the_public_layer_shows_only_coarse_cells_with_at_least_k_unsafe_reports(
    towns: HotspotGeneration, force_planner: Any
) -> None:
    anyone = client_for(None)
    coarsest = max(settings.HOTSPOT_RESOLUTIONS)
    for z in (10, 13, 16):
        zxy = tile_of(WORCESTER, z)

        response = anyone.get(url("public-hotspots", zxy))

        assert response["Cache-Control"].startswith("public")
        found = properties(response, "public-hotspots")
        expected = cells_in_tile(zxy, resolution=coarsest, unsafe__gte=settings.K_ANONYMITY)
        assert found
        # Nothing but the coarse hexagon and its count: no ids, statistics or reasons.
        assert all(set(p) == {"resolution", "unsafe"} for p in found)
        assert {p["resolution"] for p in found} == {coarsest}
        assert sorted(p["unsafe"] for p in found) == sorted(c.unsafe for c in expected.values())
        assert all(p["unsafe"] >= settings.K_ANONYMITY for p in found)

    # The lone Kidderminster report's cell is a planner's, never the public's.
    zxy = tile_of(KIDDERMINSTER, 12)
    planners = properties(
        client_for(force_planner).get(url("hotspots", zxy), {"resolution": coarsest}), "hotspots"
    )
    assert [p["unsafe"] for p in planners if p["reports"]] == [1]
    assert anyone.get(url("public-hotspots", zxy)).status_code == 204
    # A finer resolution is not a public parameter: ignored, the answer is the same.
    finer = anyone.get(url("public-hotspots", tile_of(WORCESTER, 16)), {"resolution": 200})
    assert {p["resolution"] for p in properties(finer, "public-hotspots")} == {coarsest}


# --------------------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------------------


def test_report_points_close_up_carry_no_free_text_and_sit_where_postgis_puts_them(
    force_planner: Any,
) -> None:
    ids = reports_around(WORCESTER, count=30, spread_m=100, seed=7)
    Report.objects.filter(pk=ids[0]).update(
        description="call 07700 900123", description_redacted="call [phone]", text_state="approved"
    )
    zxy = tile_of(WORCESTER, 16)

    found = decoded(client_for(force_planner).get(url("reports", zxy)), "reports")

    # Those in the tile's buffer too, so that symbols crossing its edge are drawn whole.
    assert {f["properties"]["id"] for f in found} == reports_in_tile(zxy, buffer=64)
    assert reports_in_tile(zxy) < reports_in_tile(zxy, buffer=64)
    for feature in found:
        props = feature["properties"]
        assert set(props) == REPORT_PROPERTIES
        report = Report.objects.get(pk=props["id"])
        assert (props["feeling"], props["severity"]) == ("unsafe", 2)
        assert props["band"] == "unknown"
        assert props["reasons"] == "poor_lighting"
        assert "[phone]" not in str(props) and "07700" not in str(props)
        point = feature["geometry"]["coordinates"]
        assert tuple(point) == tile_point((report.location.x, report.location.y), zxy)


def test_the_reports_tile_at_low_zoom_never_carries_more_than_the_cap(
    settings: SettingsWrapper, force_planner: Any
) -> None:
    settings.TILES_MAX_FEATURES = 16
    reports_around(WORCESTER, count=400, spread_m=2500, seed=8)
    client = client_for(force_planner)
    # Close up (from zoom 14) a tile with more reports than the cap has them counted too.
    for z in (11, 13, 14):
        zxy = tile_of(WORCESTER, z)

        found = properties(client.get(url("reports", zxy)), "reports")

        assert 0 < len(found) <= 16
        assert all(set(p) == COUNT_PROPERTIES for p in found)
        assert sum(p["count"] for p in found) == len(reports_in_tile(zxy))
    # A tile close up with no more than the cap has points.
    settings.TILES_MAX_FEATURES = 4096
    found = properties(client.get(url("reports", tile_of(WORCESTER, 14))), "reports")
    assert len(found) > 16
    assert all(set(p) == REPORT_PROPERTIES for p in found)


def test_filters_change_the_report_features(force_planner: Any) -> None:
    zxy = tile_of(WORCESTER, 16)
    centre = projected(tile_centre(zxy))
    night = datetime(2026, 1, 10, 23, 30, tzinfo=UTC)
    day = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
    dark = insert_reports([Row(centre[0] + dx, centre[1], felt_at=night) for dx in range(0, 50, 5)])
    bare = insert_reports(
        [
            Row(centre[0], centre[1] + dy, reasons=("no_cctv", "isolated"), felt_at=day)
            for dy in range(5, 50, 5)
        ]
    )
    client = client_for(force_planner)
    path = url("reports", zxy)

    def ids(**params: str) -> set[str]:
        return {p["id"] for p in properties(client.get(path, params), "reports")}

    assert ids() == {str(i) for i in dark + bare}
    assert ids(reasons="no_cctv") == {str(i) for i in bare}
    assert ids(reasons="poor_lighting,isolated") == {str(i) for i in dark + bare}
    assert ids(time_band="night") == {str(i) for i in dark}
    assert ids(time_band="evening") == set()
    assert ids(since="2026-01-10T18:00:00Z") == {str(i) for i in dark}
    assert ids(until="2026-01-09") == set()
    assert ids(area="wm-south-worcestershire") == {str(i) for i in dark + bare}
    far = f"{WORCESTER[0] + 0.1},{WORCESTER[1] + 0.1},{WORCESTER[0] + 0.2},{WORCESTER[1] + 0.2}"
    assert ids(in_bbox=far) == set()
    night_point = properties(client.get(path, {"time_band": "night"}), "reports")[0]
    assert night_point["band"] == "night"


# --------------------------------------------------------------------------------------
# Bad requests
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "named"),
    [
        ("/tiles/reports/23/0/0.mvt", {}, "z"),
        ("/tiles/reports/twelve/0/0.mvt", {}, "z"),
        ("/tiles/reports/2/4/0.mvt", {}, "x"),
        ("/tiles/reports/2/0/-1.mvt", {}, "y"),
        ("/tiles/reports/12/2022/1358.mvt", {"reasons": "ghosts"}, "reasons"),
        ("/tiles/reports/12/2022/1358.mvt", {"time_band": "noon"}, "time_band"),
        ("/tiles/reports/12/2022/1358.mvt", {"since": "yesterday"}, "since"),
        ("/tiles/reports/12/2022/1358.mvt", {"in_bbox": "1,2"}, "in_bbox"),
        ("/tiles/reports/12/2022/1358.mvt", {"area": "wm-nowhere"}, "area"),
        ("/tiles/hotspots/12/2022/1358.mvt", {"resolution": "75"}, "resolution"),
        ("/tiles/hotspots/12/2022/1358.mvt", {"class": "warm"}, "class"),
        ("/tiles/public-hotspots/12/2022/1358.mvt", {"in_bbox": "a,b,c,d"}, "in_bbox"),
    ],
)
def test_a_malformed_parameter_is_a_400_naming_it(
    force_planner: Any, path: str, params: dict[str, str], named: str
) -> None:
    client = client_for(force_planner)

    response = client.get(path, params)

    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "Invalid input."
    assert list(body["errors"]) == [named]
    assert body["errors"][named][0]
    # The same request with that parameter right is answered.
    good = "/tiles/reports/12/2022/1358.mvt" if named in ("z", "x", "y") else path
    assert client.get(good).status_code in (200, 204)


# --------------------------------------------------------------------------------------
# Caching
# --------------------------------------------------------------------------------------


def test_an_etag_the_client_has_is_answered_304_without_building_the_tile(
    force_planner: Any, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    reports_around(WORCESTER, count=10, spread_m=50, seed=9)
    client = client_for(force_planner)
    path = url("reports", tile_of(WORCESTER, 15))
    first = client.get(path)
    assert first.status_code == 200
    assert first["Cache-Control"].startswith("private")
    assert "Authorization" in first["Vary"]
    etag = first["ETag"]

    # 1. The token. 2. The planner's organisation (their areas are cached).
    # 3. The live generation, part of the ETag. No tile query.
    with django_assert_num_queries(3):
        again = client.get(path, HTTP_IF_NONE_MATCH=etag)

    assert again.status_code == 304
    assert again["ETag"] == etag
    assert client.get(path, HTTP_IF_NONE_MATCH='"something-else"').status_code == 200


def test_query_counts_for_an_uncached_and_a_cached_tile(
    force_planner: Any, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    reports_around(WORCESTER, count=10, spread_m=50, seed=10)
    client = client_for(force_planner)
    # Prepares the statement on this connection, caches the planner's areas and the
    # service area's box.
    client.get(url("reports", tile_of(WORCESTER, 14)))
    path = url("reports", tile_of(WORCESTER, 15))

    # 1. The token. 2. The organisation. 3. The live generation. 4. EXECUTE the points.
    with django_assert_num_queries(4):
        uncached = client.get(path)
    # The same three, then the tile from the cache.
    with django_assert_num_queries(3):
        cached = client.get(path)

    assert uncached.status_code == cached.status_code == 200
    assert cached.content == uncached.content
    assert cached["ETag"] == uncached["ETag"]


def test_a_tile_outside_the_data_is_empty_without_touching_a_table(
    force_planner: Any, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    anyone = client_for(None)
    planner = client_for(force_planner)
    london = tile_of(LONDON, 12)
    # Caches the service area's box and the planner's areas.
    assert anyone.get(url("public-hotspots", tile_of(LONDON, 11))).status_code == 204
    assert planner.get(url("reports", tile_of(LONDON, 11))).status_code == 204

    with django_assert_num_queries(0):
        assert anyone.get(url("public-hotspots", london)).status_code == 204
    # 1. The token. 2. The planner's organisation: who asks, nothing of the layer.
    with django_assert_num_queries(2):
        assert planner.get(url("reports", london)).status_code == 204
    # A box filter away from the tile is as good as outside.
    away = f"{WORCESTER[0]},{WORCESTER[1]},{WORCESTER[0] + 0.01},{WORCESTER[1] + 0.01}"
    with django_assert_num_queries(2):
        response = planner.get(url("reports", tile_of(SHREWSBURY, 12)), {"in_bbox": away})
    assert response.status_code == 204


@committed
def test_a_rebuild_moves_the_cache_key_on_so_new_data_shows(
    coarse: None, force_planner: Any
) -> None:
    reports_around(WORCESTER, count=30, spread_m=300, seed=11)
    hotspots_rebuild()
    client = client_for(force_planner)
    path = url("hotspots", tile_of(WORCESTER, 13))
    before = client.get(path)
    reports_around(WORCESTER, count=30, spread_m=300, seed=12)

    # Until the rebuild, the cached tile (the same generation) is what is served.
    assert client.get(path).content == before.content
    hotspots_rebuild()
    after = client.get(path)

    assert after["ETag"] != before["ETag"]
    assert sum(p["unsafe"] for p in properties(before, "hotspots")) == 30
    assert sum(p["unsafe"] for p in properties(after, "hotspots")) == 60
    assert client.get(path, HTTP_IF_NONE_MATCH=before["ETag"]).status_code == 200


# --------------------------------------------------------------------------------------
# Prepared statements and the schema
# --------------------------------------------------------------------------------------


def prepared_here() -> set[str]:
    return {name for (name,) in _rows("SELECT name FROM pg_prepared_statements", [])}


@committed
def test_statements_are_prepared_once_per_connection_and_again_after_a_reconnect(
    settings: SettingsWrapper, force_planner: Any, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    settings.TILES_CACHE = False
    reports_around(WORCESTER, count=5, spread_m=30, seed=13)
    client = client_for(force_planner)
    path = url("reports", tile_of(WORCESTER, 16))
    names = {statement.name for statement in STATEMENTS}
    connection.close()

    first = client.get(path)
    assert len(prepared_here() & names) == 1
    # The organisation's areas are cached now: the token, the organisation, the
    # generation and EXECUTE, with no PREPARE.
    with django_assert_num_queries(4):
        assert client.get(path).content == first.content
    connection.close()
    assert client.get(path).content == first.content
    assert len(prepared_here() & names) == 1


def test_the_schema_documents_every_tile_layer_and_its_parameters() -> None:
    schema = yaml.safe_load(client_for(None).get("/api/schema").content)

    for layer, params in (
        ("hotspots", {"resolution", "reasons", "time_band", "class", "in_bbox"}),
        ("reports", {"reasons", "time_band", "since", "until", "area", "in_bbox"}),
        ("places", {"area", "in_bbox"}),
        ("public-hotspots", {"in_bbox"}),
    ):
        operation = schema["paths"][f"/tiles/{layer}/{{z}}/{{x}}/{{y}}.mvt"]["get"]
        names = {p["name"] for p in operation["parameters"]}
        assert {"z", "x", "y"} | params <= names
        assert "application/vnd.mapbox-vector-tile" in operation["responses"]["200"]["content"]
