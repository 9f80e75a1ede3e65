"""manage.py import_assets: street lights and cameras from any file GDAL reads, upserted.

The fixtures (tests/fixtures/assets, see its README) are real Bristol lights and Sheffield
cameras, and a hand-made register with rows broken on purpose; the Shapefile, GeoPackage
and British National Grid CSV are made from them with ogr2ogr in each test that needs one.
"""

import csv
import json
import math
import re
import subprocess
from collections.abc import Callable
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management.base import CommandError
from django.db import connection

from geo import assets
from geo.assets import AssetFields, assets_import, assets_version
from geo.models import Camera, Intervention, Organisation, Streetlight
from tests.geo.asset_factories import intervention_at, light_at

ASSETS_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "assets"
BRISTOL = ASSETS_DIR / "bristol_streetlights.csv"
REGISTER = ASSETS_DIR / "streetlights_register.csv"
SHEFFIELD = ASSETS_DIR / "sheffield_cctv.geojson"
# 300 lights, the last two at exactly the same position (lines 300 and 301 of the file).
BRISTOL_ROWS = 300
TWINS = (-2.6162096052564725, 51.444710867189634)
REGISTER_OPTIONS = {
    "id_field": "unit_id",
    "label_field": "street",
    "lamp_type_field": "lamp_type",
    "wattage_field": "wattage",
    "working_field": "status",
}
SHEFFIELD_OPTIONS = {"kind_field": "notes", "label_field": "location"}
REGISTER_FIELDS: dict[str, Any] = {
    "id_field": "unit_id",
    "fields": AssetFields(
        label="street", lamp_type="lamp_type", wattage="wattage", working="status"
    ),
}

AssetModel = type[Streetlight] | type[Camera]

pytestmark = pytest.mark.django_db


def bristol_points() -> list[tuple[float, float]]:
    with BRISTOL.open(newline="") as f:
        return [(float(row["longitude"]), float(row["latitude"])) for row in csv.DictReader(f)]


def ogr2ogr(target: Path, source: Path, *args: str) -> Path:
    """A copy of source in another format, as a user's GIS would write it."""
    subprocess.run(["ogr2ogr", *args, str(target), str(source)], check=True, timeout=60)
    return target


def bristol_as(target: Path, *args: str, srs: str | None = None) -> Path:
    """The Bristol lights read as points (GDAL's CSV driver) and written to target, in WGS84
    or transformed to srs."""
    points = ["-oo", "X_POSSIBLE_NAMES=longitude", "-oo", "Y_POSSIBLE_NAMES=latitude"]
    system = ["-a_srs", "EPSG:4326"] if srs is None else ["-s_srs", "EPSG:4326", "-t_srs", srs]
    return ogr2ogr(target, BRISTOL, *points, *system, *args)


def distances_to_stored(model: AssetModel, points: list[tuple[float, float]]) -> list[float]:
    """For each point, the distance in metres to the nearest stored asset (by the projected
    point, which must be the same as the WGS84 one: that is checked too)."""
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT (
                SELECT ST_Distance(a.location_projected, p.projected)
                FROM {table} a ORDER BY a.location_projected <-> p.projected LIMIT 1
            )
            FROM unnest(%(lons)s::float8[], %(lats)s::float8[]) AS t(lon, lat),
                 ST_Transform(ST_SetSRID(ST_MakePoint(t.lon, t.lat), 4326), %(srid)s)
                 AS p(projected)
            """,
            {
                "lons": [p[0] for p in points],
                "lats": [p[1] for p in points],
                "srid": settings.ANALYSIS_SRID,
            },
        )
        found = [d for (d,) in cursor.fetchall()]
        cursor.execute(
            f"SELECT max(ST_Distance(ST_Transform(location, %s), location_projected)) FROM {table}",
            [settings.ANALYSIS_SRID],
        )
        (apart,) = cursor.fetchone()
    assert apart is not None and apart < 0.001, "location and location_projected disagree"
    return found


def snapshot(model: AssetModel) -> dict[str, tuple[Any, ...]]:
    """Every stored asset by external id: its row id, position, attributes and when updated."""
    return {
        row[0]: (row[1], row[2].wkt, *row[3:])
        for row in model.objects.values_list(
            "external_id", "pk", "location", "label", "working", "updated_at", "organisation"
        )
    }


# Reading each format


def test_it_imports_a_csv_of_longitudes_and_latitudes_with_ids_made_from_positions(
    run: Callable[..., str],
) -> None:
    out = run("import_assets", str(BRISTOL), kind="light")

    assert f"Read {BRISTOL_ROWS} rows from {BRISTOL} (CSV, EPSG:4326)." in out
    assert f"Created {BRISTOL_ROWS}, updated 0, unchanged 0, skipped 0 street lights" in out
    assert Streetlight.objects.count() == BRISTOL_ROWS
    assert max(distances_to_stored(Streetlight, bristol_points())) < 1.0
    first = Streetlight.objects.get(external_id="pos:-2.536601,51.490497")
    assert (first.location.x, first.location.y) == (-2.536601140327318, 51.49049679592616)
    assert (first.organisation, first.label, first.working, first.lamp_type) == (None, "", True, "")
    # The two lights on one column are told apart by their order in the file.
    twins = Streetlight.objects.filter(external_id__startswith="pos:-2.616210,51.444711")
    assert sorted(twins.values_list("external_id", flat=True)) == [
        "pos:-2.616210,51.444711",
        "pos:-2.616210,51.444711#2",
    ]
    assert {(t.location.x, t.location.y) for t in twins} == {TWINS}


def test_it_imports_a_shapefile_in_british_national_grid(
    run: Callable[..., str], tmp_path: Path
) -> None:
    shapefile = bristol_as(tmp_path / "lights.shp", srs="EPSG:27700")

    out = run("import_assets", str(shapefile), kind="light")

    assert "Read 300 rows from layer 'lights' of" in out
    assert "(EPSG:27700)" in out
    assert f"Created {BRISTOL_ROWS}, updated 0, unchanged 0, skipped 0" in out
    assert max(distances_to_stored(Streetlight, bristol_points())) < 1.0
    # Ids from the positions transformed back to WGS84: the twins are still two.
    assert Streetlight.objects.filter(external_id__endswith="#2").count() == 1


def test_it_imports_a_layer_of_a_geopackage(run: Callable[..., str], tmp_path: Path) -> None:
    package = bristol_as(tmp_path / "assets.gpkg", "-nln", "lights")
    ogr2ogr(package, SHEFFIELD, "-update", "-nln", "cameras")

    with pytest.raises(CommandError, match=r"--layer: .* has 2 layers; choose one of: "):
        run("import_assets", str(package), kind="light")
    out = run("import_assets", str(package), kind="light", layer="lights")

    assert f"Created {BRISTOL_ROWS}, updated 0, unchanged 0, skipped 0" in out
    assert max(distances_to_stored(Streetlight, bristol_points())) < 1.0
    # The same ids as from the CSV: a second import of either finds them.
    again = run("import_assets", str(BRISTOL), kind="light")
    assert f"Created 0, updated 0, unchanged {BRISTOL_ROWS}, skipped 0" in again


def test_it_imports_a_csv_of_eastings_and_northings(
    run: Callable[..., str], tmp_path: Path
) -> None:
    bng = bristol_as(tmp_path / "bng.csv", "-lco", "GEOMETRY=AS_XY", srs="EPSG:27700")
    assert bng.read_text().startswith("X,Y,longitude,latitude")

    out = run("import_assets", str(bng), kind="light", x_field="X", y_field="Y", srid=27700)

    assert f"Read {BRISTOL_ROWS} rows from {bng} (CSV, EPSG:27700)." in out
    assert f"Created {BRISTOL_ROWS}, updated 0, unchanged 0, skipped 0" in out
    assert max(distances_to_stored(Streetlight, bristol_points())) < 1.0
    again = run("import_assets", str(bng), kind="light", x_field="X", y_field="Y", srid=27700)
    assert f"Created 0, updated 0, unchanged {BRISTOL_ROWS}, skipped 0" in again


def test_it_takes_coordinates_from_fields_of_a_layer_without_geometry(
    run: Callable[..., str], tmp_path: Path
) -> None:
    table = ogr2ogr(tmp_path / "table.gpkg", BRISTOL, "-nln", "lights")

    with pytest.raises(CommandError, match=r"--lon-field/--lat-field: .* has no geometry"):
        run("import_assets", str(table), kind="light")
    run("import_assets", str(table), kind="light", lon_field="longitude", lat_field="latitude")

    assert Streetlight.objects.count() == BRISTOL_ROWS
    assert max(distances_to_stored(Streetlight, bristol_points())) < 1.0


# Cameras


def test_it_classifies_the_sheffield_cameras_from_their_notes(run: Callable[..., str]) -> None:
    out = run("import_assets", str(SHEFFIELD), kind="camera", **SHEFFIELD_OPTIONS)

    assert "Created 20, updated 0, unchanged 0, skipped 0 cameras" in out
    kinds = dict(Camera.objects.values_list("label", "kind"))
    assert sum(kind == "traffic" for kind in kinds.values()) == 8
    assert kinds["Sheaf Street / Howard Street"] == "traffic"  # "ITS Traffic Camera"
    assert kinds["Fargate (WH Smiths)"] == "public_space"  # notes " "
    assert kinds["London Road/Boston Street"] == "public_space"  # notes null
    features = json.loads(SHEFFIELD.read_text())["features"]
    assert max(distances_to_stored(Camera, [f["geometry"]["coordinates"] for f in features])) < 1


def test_a_value_mentioning_private_makes_a_private_camera(
    run: Callable[..., str], tmp_path: Path
) -> None:
    path = tmp_path / "cameras.csv"
    path.write_text(
        "id,type,lon,lat,range\n"
        "a,Private (shop),-1.4702,53.3810,30 m\n"
        "b,TRAFFIC,-1.4704,53.3801,\n"
        "c,council CCTV,-1.4712,53.3805,120\n"
    )

    run(
        "import_assets",
        str(path),
        kind="camera",
        id_field="id",
        kind_field="type",
        range_field="range",
    )
    assert dict(Camera.objects.values_list("external_id", "kind")) == {
        "a": "private",
        "b": "traffic",
        "c": "public_space",
    }
    assert dict(Camera.objects.values_list("external_id", "range_m")) == {
        "a": 30,
        "b": None,
        "c": 120,
    }

    # --camera-kind: what the field does not call traffic or private.
    run(
        "import_assets", str(path), kind="camera", id_field="id", kind_field="type",
        camera_kind="private",
    )  # fmt: skip
    assert Camera.objects.get(external_id="c").kind == "private"
    assert Camera.objects.get(external_id="b").kind == "traffic"


def test_repeated_ids_are_skipped_with_the_feature_they_repeat(run: Callable[..., str]) -> None:
    # Sheffield numbers its traffic and public-space cameras apart: cam_number repeats.
    out = run("import_assets", str(SHEFFIELD), kind="camera", id_field="cam_number")

    assert "Created 14, updated 0, unchanged 0, skipped 6 cameras" in out
    for feature, first, number in [(8, 0, 1), (9, 2, 3), (10, 3, 4), (13, 7, 8)]:
        assert (
            f"skipped feature {feature}: the id '{number}' is also on feature {first}, "
            "which is kept" in out
        )
    assert Camera.objects.get(external_id="1").label == ""
    assert Camera.objects.get(external_id="9").location.x == pytest.approx(-1.4732716689644854)


# Upserting


def test_a_second_import_of_the_same_file_changes_and_creates_nothing(
    run: Callable[..., str],
) -> None:
    run("import_assets", str(BRISTOL), kind="light")
    run("import_assets", str(SHEFFIELD), kind="camera", **SHEFFIELD_OPTIONS)
    lights, cameras = snapshot(Streetlight), snapshot(Camera)

    lights_again = run("import_assets", str(BRISTOL), kind="light")
    cameras_again = run("import_assets", str(SHEFFIELD), kind="camera", **SHEFFIELD_OPTIONS)

    assert f"Created 0, updated 0, unchanged {BRISTOL_ROWS}, skipped 0" in lights_again
    assert "Created 0, updated 0, unchanged 20, skipped 0" in cameras_again
    # Not rewritten at all: the same rows, updated_at included.
    assert snapshot(Streetlight) == lights
    assert snapshot(Camera) == cameras


def test_a_changed_position_or_attribute_is_updated_and_the_rest_left_alone(
    run: Callable[..., str], tmp_path: Path
) -> None:
    run("import_assets", str(REGISTER), kind="light", **REGISTER_OPTIONS)
    before = snapshot(Streetlight)
    changed = tmp_path / "register.csv"
    text = REGISTER.read_text()
    text = text.replace(
        "BR-0001,Kingsweston Lane,LED,35,working", "BR-0001,Kingsweston Lane,LED,50,faulty"
    )
    text = text.replace(
        "-2.5569326793395866,51.455406030821685", "-2.5570326793395866,51.455406030821685"
    )
    changed.write_text(text)

    out = run("import_assets", str(changed), kind="light", **REGISTER_OPTIONS)

    assert "Created 0, updated 2, unchanged 4, skipped 8 street lights" in out
    one = Streetlight.objects.get(external_id="BR-0001")
    assert (one.wattage, one.working) == (50, False)
    moved = Streetlight.objects.get(external_id="BR-0012")
    assert moved.location.x == -2.5570326793395866
    # The projected point moved with it, about 7 m west.
    assert distances_to_stored(Streetlight, [(-2.5570326793395866, 51.455406030821685)]) == [
        pytest.approx(0, abs=0.001)
    ]
    after = snapshot(Streetlight)
    assert {k for k in after if after[k] != before[k]} == {"BR-0001", "BR-0012"}
    assert {v[0] for v in after.values()} == {v[0] for v in before.values()}


def test_an_attribute_without_a_field_is_left_as_it_is(
    run: Callable[..., str],
) -> None:
    run("import_assets", str(REGISTER), kind="light", **REGISTER_OPTIONS)

    out = run("import_assets", str(REGISTER), kind="light", id_field="unit_id")

    # Rows 7 and 8, whose wattage and state could not be read, are stored now that neither
    # field is.
    assert "Created 2, updated 0, unchanged 6, skipped 6" in out
    one = Streetlight.objects.get(external_id="BR-0008")
    assert (one.label, one.lamp_type, one.wattage, one.working) == (
        "Hartcliffe Way",
        "SON",
        70,
        False,
    )


def test_each_owner_has_its_own_assets(run: Callable[..., str]) -> None:
    council = Organisation.objects.create(name="Bristol City Council", slug="bristol")

    run("import_assets", str(BRISTOL), kind="light")
    out = run("import_assets", str(BRISTOL), kind="light", organisation="bristol")

    assert f"Created {BRISTOL_ROWS}, updated 0, unchanged 0" in out
    assert Streetlight.objects.filter(organisation=council).count() == BRISTOL_ROWS
    assert Streetlight.objects.filter(organisation=None).count() == BRISTOL_ROWS
    with pytest.raises(CommandError, match="--organisation: no organisation has the slug 'nope'"):
        run("import_assets", str(BRISTOL), kind="light", organisation="nope")


def test_an_import_moves_the_assets_version_on_once(run: Callable[..., str]) -> None:
    before = assets_version()

    run("import_assets", str(BRISTOL), kind="light")

    assert assets_version() == before + 1


def test_prune_deletes_the_owners_assets_the_file_no_longer_lists(
    run: Callable[..., str], tmp_path: Path
) -> None:
    council = Organisation.objects.create(name="Bristol City Council", slug="bristol")
    run("import_assets", str(BRISTOL), kind="light", organisation="bristol")
    run("import_assets", str(BRISTOL), kind="light")  # open data: another owner's copy
    lines = BRISTOL.read_text().splitlines(keepends=True)
    # The register without its first ten lights; one of them had an intervention.
    shorter = tmp_path / "register.csv"
    shorter.write_text("".join([lines[0], *lines[11:]]))
    removed = Streetlight.objects.get(organisation=council, external_id=_position_id(lines[1]))
    done = intervention_at(
        (removed.location.x, removed.location.y),
        organisation=council,
        kind=Intervention.Kind.LIGHT_REPAIRED,
        streetlight=removed,
    )
    kept = snapshot(Streetlight)

    out = run("import_assets", str(shorter), kind="light", organisation="bristol", prune=True)

    assert f"Created 0, updated 0, unchanged {BRISTOL_ROWS - 10}, skipped 0" in out
    assert "Pruned 10 street lights that the file no longer lists." in out
    stored = Streetlight.objects.filter(organisation=council)
    assert stored.count() == BRISTOL_ROWS - 10
    assert not stored.filter(external_id__in=[_position_id(line) for line in lines[1:11]])
    # The rest untouched, the other owner's copy whole, the intervention kept where it was.
    after = snapshot(Streetlight)
    assert {k: v for k, v in kept.items() if k in after} == after
    assert Streetlight.objects.filter(organisation=None).count() == BRISTOL_ROWS
    done.refresh_from_db()
    assert done.streetlight is None
    assert done.location == removed.location


def test_prune_deletes_nothing_when_a_row_was_skipped(run: Callable[..., str]) -> None:
    run("import_assets", str(REGISTER), kind="light", **REGISTER_OPTIONS)
    light_at((-2.58, 51.45), external_id="BR-9999")
    before = Streetlight.objects.count()
    err = StringIO()

    out = run(
        "import_assets", str(REGISTER), kind="light", prune=True, stderr=err, **REGISTER_OPTIONS
    )

    assert "skipped 8" in out
    assert "Pruned" not in out
    assert "Nothing was pruned: 8 rows were skipped" in err.getvalue()
    assert Streetlight.objects.count() == before
    assert Streetlight.objects.filter(external_id="BR-9999").exists()


def test_without_prune_assets_missing_from_the_file_stay(run: Callable[..., str]) -> None:
    run("import_assets", str(REGISTER), kind="light", **REGISTER_OPTIONS)
    light_at((-2.58, 51.45), external_id="BR-9999")

    out = run("import_assets", str(REGISTER), kind="light", **REGISTER_OPTIONS)

    assert "Pruned" not in out
    assert Streetlight.objects.filter(external_id="BR-9999").exists()


def _position_id(line: str) -> str:
    """The id import_assets makes for a Bristol line (longitude,latitude) without an id."""
    lon, lat = (float(v) for v in line.strip().split(","))
    decimals = assets.POSITION_DECIMALS
    return f"{assets.POSITION_ID_PREFIX}{lon:.{decimals}f},{lat:.{decimals}f}"


def test_quiet_an_import_prints_only_what_went_wrong(run: Callable[..., str]) -> None:
    err = StringIO()

    clean = run("import_assets", str(BRISTOL), kind="light", verbosity=0, stderr=err)
    bad = run(
        "import_assets", str(REGISTER), kind="light", verbosity=0, stderr=err, **REGISTER_OPTIONS
    )

    assert clean == bad == ""
    assert err.getvalue() == "Skipped 8 rows (without -v 0 they are listed).\n"


# Bad rows


def test_bad_rows_are_listed_with_their_row_numbers_and_the_rest_stored(
    run: Callable[..., str],
) -> None:
    out = run("import_assets", str(REGISTER), kind="light", **REGISTER_OPTIONS)

    assert "Read 14 rows from" in out  # the blank row 11 is not one
    assert "Created 6, updated 0, unchanged 0, skipped 8 street lights" in out
    skipped = [line.strip() for line in out.splitlines() if line.startswith("  skipped")]
    assert skipped == [
        "skipped row 4: no longitude",
        "skipped row 5: latitude '51.4576648678743x' is not a number",
        "skipped row 6: longitude 200.1 is out of range (-180 to 180)",
        "skipped row 7: wattage 'bright' is not a number",
        "skipped row 8: status 'maybe' is neither working nor faulty (yes/no, true/false, "
        "1/0, working/faulty)",
        "skipped row 9: the id 'BR-0002' is also on row 3, which is kept",
        "skipped row 10: no id in 'unit_id'",
        "skipped row 15: latitude 95.5 is out of range (-90 to 90)",
    ]
    stored = {
        light.external_id: (light.label, light.lamp_type, light.wattage, light.working)
        for light in Streetlight.objects.all()
    }
    assert stored == {
        "BR-0001": ("Kingsweston Lane", "LED", 35, True),
        "BR-0002": ("Kingsweston Lane", "LED", 35, True),  # "35W"
        "BR-0008": ("Hartcliffe Way", "SON", 70, False),  # "faulty"
        "BR-0009": ("Hartcliffe Way, by the roundabout", "LED", None, True),  # empty
        "BR-0010": ("Hartcliffe Way", "LED", 35, False),  # "no"
        "BR-0012": ("Feeder Road", "LED", 35, True),  # "1"
    }


def test_features_without_a_point_are_listed_by_feature(
    run: Callable[..., str], tmp_path: Path
) -> None:
    features = [
        {"type": "Feature", "properties": {"n": "a"}, "geometry": None},
        {
            "type": "Feature",
            "properties": {"n": "b"},
            "geometry": {"type": "LineString", "coordinates": [[-1.47, 53.38], [-1.46, 53.38]]},
        },
        {
            "type": "Feature",
            "properties": {"n": "c"},
            "geometry": {"type": "MultiPoint", "coordinates": [[-1.47, 53.38]]},
        },
        {
            "type": "Feature",
            "properties": {"n": "d"},
            "geometry": {"type": "Point", "coordinates": [400000, 300000]},
        },
    ]
    path = tmp_path / "odd.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))

    out = run("import_assets", str(path), kind="camera", id_field="n")

    assert "Created 1, updated 0, unchanged 0, skipped 3 cameras" in out
    assert "skipped feature 0: no geometry" in out
    assert "skipped feature 1: a linestring, not a point" in out
    assert "skipped feature 3: the point (400000, 300000) is not a longitude and latitude" in out
    assert list(Camera.objects.values_list("external_id", flat=True)) == ["c"]


def test_points_that_cannot_be_transformed_are_listed_and_the_rest_stored(
    run: Callable[..., str], tmp_path: Path
) -> None:
    path = tmp_path / "bng.csv"
    path.write_text(
        "ref,easting,northing\n"
        "a,358650,173210\n"
        "b,1e10,1e10\n"  # PROJ refuses it: the whole statement fails, then row by row
        "c,inf,173210\n"
        "d,358660,173220\n"
    )

    out = run(
        "import_assets", str(path), kind="light", id_field="ref", x_field="easting",
        y_field="northing", srid=27700,
    )  # fmt: skip

    assert "Created 2, updated 0, unchanged 0, skipped 2" in out
    assert "skipped row 3: the point (1e+10, 1e+10) in EPSG:27700 is not one that system" in out
    assert "skipped row 4: the coordinates (inf, 173210) are not finite numbers" in out
    assert sorted(Streetlight.objects.values_list("external_id", flat=True)) == ["a", "d"]


def test_all_skipped_rows_are_listed_with_more_verbosity(
    run: Callable[..., str], tmp_path: Path
) -> None:
    path = tmp_path / "many.csv"
    path.write_text("longitude,latitude\n" + "x,51.4\n" * 25)

    out = run("import_assets", str(path), kind="light")
    everything = run("import_assets", str(path), kind="light", verbosity=2)

    assert out.count("  skipped row") == 20
    assert "  ... and 5 more (all with -v 2)" in out
    assert everything.count("  skipped row") == 25
    assert "skipped row 26: longitude 'x' is not a number" in everything


# What stops an import


# (arguments, options, the start of the message)
STOPPING: list[tuple[list[str], dict[str, Any], str]] = [
    (["nowhere.csv"], {}, "FILE: no such file: nowhere.csv"),
    (
        [str(BRISTOL)],
        {"id_field": "id"},
        "--id-field: .* has no field 'id'; its fields are: longitude, latitude",
    ),
    (
        [str(SHEFFIELD)],
        {"label_field": "name"},
        "--label-field: layer 'sheffield_cctv' of .* has no field 'name'",
    ),
    (
        [str(SHEFFIELD)],
        {"layer": "cams"},
        "--layer: .* has no layer 'cams'; its layers are: sheffield_cctv",
    ),
    (
        [str(BRISTOL)],
        {
            "lon_field": "longitude",
            "lat_field": "latitude",
            "x_field": "longitude",
            "y_field": "latitude",
            "srid": 27700,
        },
        "--lon-field/--lat-field and --x-field/--y-field: give one pair, not both",
    ),
    (
        [str(BRISTOL)],
        {"x_field": "longitude", "y_field": "latitude"},
        "--srid: needed with --x-field and --y-field",
    ),
    ([str(BRISTOL)], {"lon_field": "longitude"}, "--lat-field: needed with --lon-field"),
    (
        [str(BRISTOL)],
        {"lon_field": "longitude", "lat_field": "latitude", "srid": 27700},
        "--srid: longitude and latitude are WGS84",
    ),
    (
        [str(BRISTOL)],
        {"x_field": "longitude", "y_field": "latitude", "srid": 999999},
        "--srid: PostGIS does not know EPSG:999999",
    ),
    ([str(BRISTOL)], {"kind_field": "longitude"}, "--kind-field: only with --kind camera"),
    (
        [str(SHEFFIELD), "--kind", "camera", "--wattage-field", "notes"],
        {},
        "--wattage-field: only with --kind light",
    ),
    ([str(REGISTER), "--kind", "lamp"], {}, "argument --kind: invalid choice: 'lamp'"),
    ([str(BRISTOL), "--srid", "BNG"], {}, "argument --srid: 'BNG' is not an EPSG code"),
]


@pytest.mark.parametrize(("arguments", "options", "message"), STOPPING)
def test_what_cannot_be_imported_as_asked_stops_the_import_naming_the_option(
    run: Callable[..., str], arguments: list[str], options: dict[str, Any], message: str
) -> None:
    if "--kind" not in arguments:
        options = {"kind": "light", **options}

    with pytest.raises(CommandError, match=message):
        run("import_assets", *arguments, **options)
    assert not Streetlight.objects.exists() and not Camera.objects.exists()


def test_a_csv_without_longitude_and_latitude_columns_says_which_options_to_give(
    run: Callable[..., str], tmp_path: Path
) -> None:
    path = tmp_path / "register.csv"
    path.write_text("ref,easting,northing\na,358650,173210\n")

    with pytest.raises(CommandError) as error:
        run("import_assets", str(path), kind="light")

    assert str(error.value) == (
        f"--lon-field/--lat-field: {path} has no longitude and latitude columns (such as "
        "longitude, latitude): name them with --lon-field and --lat-field, or give "
        "--x-field, --y-field and --srid; its fields are: ref, easting, northing"
    )
    run("import_assets", str(path), kind="light", x_field="easting", y_field="northing", srid=27700)
    assert Streetlight.objects.count() == 1


def test_a_file_gdal_cannot_read_is_named(run: Callable[..., str], tmp_path: Path) -> None:
    path = tmp_path / "lights.gpkg"
    path.write_bytes(b"not a geopackage")

    with pytest.raises(CommandError, match=re.escape(f"FILE: GDAL cannot read {path}")):
        run("import_assets", str(path), kind="light")


# The service


def test_progress_is_reported_while_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(assets, "PROGRESS_EVERY", 100)
    calls: list[tuple[int, int]] = []

    assets_import(kind="light", path=BRISTOL, progress=lambda *call: calls.append(call))

    assert calls == [(100, 300), (200, 300), (300, 300), (300, 300)]


def test_a_large_first_import_rebuilds_the_indexes_and_constraint_it_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def schema() -> list[tuple[str, str]]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index"
                " WHERE indrelid = 'geo_streetlight'::regclass ORDER BY 1"
            )
            return cursor.fetchall()

    before = schema()
    assert len(before) == 5  # primary key, unique ids, two GiST, the organisation
    monkeypatch.setattr(assets, "BULK_MIN_ROWS", 0)

    first = assets_import(kind="light", path=REGISTER, **REGISTER_FIELDS)
    assert schema() == before
    # More new ids than the table holds, for an owner that has some: the unique index
    # stays (the upsert needs it), the rest are built again.
    again = assets_import(kind="light", path=BRISTOL)

    assert (first.created, again.created, again.updated) == (6, BRISTOL_ROWS, 0)
    assert schema() == before
    assert Streetlight.objects.count() == 6 + BRISTOL_ROWS


# What the import's fast paths must keep


def test_a_longitude_and_latitude_the_analysis_system_cannot_place_is_skipped(
    run: Callable[..., str], tmp_path: Path
) -> None:
    # 90° east of Greenwich is outside British National Grid's domain: PROJ refuses it.
    assert settings.ANALYSIS_SRID == 27700
    path = tmp_path / "lights.csv"
    path.write_text("longitude,latitude\n-2.5,51.4\n90,0\n-2.6,51.5\n")

    out = run("import_assets", str(path), kind="light")
    again = run("import_assets", str(path), kind="light")

    skipped = "skipped row 3: the point (90, 0) in EPSG:4326 is not one that system can place"
    assert "Created 2, updated 0, unchanged 0, skipped 1" in out and skipped in out
    assert "Created 0, updated 0, unchanged 2, skipped 1" in again and skipped in again
    assert sorted(Streetlight.objects.values_list("external_id", flat=True)) == [
        "pos:-2.500000,51.400000",
        "pos:-2.600000,51.500000",
    ]


def test_an_asset_moved_where_it_cannot_be_placed_stays_where_it_was(
    run: Callable[..., str], tmp_path: Path
) -> None:
    path = tmp_path / "lights.csv"
    path.write_text("ref,longitude,latitude\na,-2.5,51.4\nb,-2.6,51.5\n")
    run("import_assets", str(path), kind="light", id_field="ref")
    path.write_text("ref,longitude,latitude\na,90,0\nb,-2.61,51.5\nc,-2.7,51.6\n")

    out = run("import_assets", str(path), kind="light", id_field="ref")

    assert "Created 1, updated 1, unchanged 0, skipped 1" in out
    assert "skipped row 2: the point (90, 0) in EPSG:4326 is not one that system" in out
    stored = {light.external_id: light.location.coords for light in Streetlight.objects.all()}
    assert stored == {"a": (-2.5, 51.4), "b": (-2.61, 51.5), "c": (-2.7, 51.6)}


def test_coordinates_are_stored_exactly_as_written_and_ids_rounded_from_them(
    run: Callable[..., str], tmp_path: Path
) -> None:
    written = [
        ("-2.536601140327318", "51.49049679592616"),
        (" -2.5 ", "5.15e1"),
        ("+2.0000005", "51.4999995"),
        ("-0.0000001", "51.5"),
        ("-0", "51.60000049999999"),
        ("-2.5366011403273181234567890123", "51.3904967959261600000000000000001"),
        ("-2.1", ".514E2"),
        # What float() reads but the database would not, or not as the same number.
        ("-2.1_5", "5_1.45"),
        ("\t-2.3", "51.3 "),
        ("1e-400", "51.2"),
    ]
    path = tmp_path / "lights.csv"
    path.write_text("longitude,latitude\n" + "".join(f'"{x}","{y}"\n' for x, y in written))

    out = run("import_assets", str(path), kind="light")

    assert f"Created {len(written)}, updated 0, unchanged 0, skipped 0" in out
    stored = {light.external_id: light.location.coords for light in Streetlight.objects.all()}
    expected = {}
    for x_text, y_text in written:
        x, y = float(x_text), float(y_text)
        expected[f"pos:{x:.6f},{y:.6f}"] = (x, y)
    assert stored == expected
    # The sign of -0 is kept, as float() reads it.
    assert math.copysign(1, stored["pos:-0.000000,51.600000"][0]) == -1


def test_a_file_that_cannot_be_read_part_way_stores_nothing(
    run: Callable[..., str], tmp_path: Path
) -> None:
    run("import_assets", str(BRISTOL), kind="light")
    before = snapshot(Streetlight)
    path = tmp_path / "lights.csv"
    good = "".join(f"{-2.5 - i / 1e5},{51.4 + i / 1e5}\n" for i in range(20_000))
    path.write_bytes(b"longitude,latitude\n" + good.encode() + b"-2.5,51.\xff\n")

    with pytest.raises(CommandError, match=re.escape(f"FILE: {path} cannot be read as CSV")):
        run("import_assets", str(path), kind="light")

    assert snapshot(Streetlight) == before


def test_text_is_stored_exactly_as_written(run: Callable[..., str], tmp_path: Path) -> None:
    labels = {
        "a": "Church Street \\ Back Lane",  # a backslash, which COPY's text format escapes
        "b": "Tab\there",
        "c": "Two\nlines",
        "d": "\\N",  # COPY's NULL, as text
        "e": "Rue de l'Église",
    }
    path = tmp_path / "lights.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["ref", "street", "lon", "lat"])
        for n, (ref, label) in enumerate(labels.items()):
            writer.writerow([ref, label, -2.5 - n / 1000, 51.4])

    out = run("import_assets", str(path), kind="light", id_field="ref", label_field="street")

    assert f"Created {len(labels)}, updated 0, unchanged 0, skipped 0" in out
    assert dict(Streetlight.objects.values_list("external_id", "label")) == labels
