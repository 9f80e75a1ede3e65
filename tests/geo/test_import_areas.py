import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.gis.geos import Point
from django.core.management.base import CommandError

from geo.models import Area, AreaPart
from tests.fixtures.areas import BOUNDARIES_DIR
from tests.fixtures.points import WORCESTER

DISTRICTS = BOUNDARIES_DIR / "local_authority_districts_gb_2013.topojson"
FORCES_BNG = BOUNDARIES_DIR / "west_mercia_bng.geojson"
DISTRICT_OPTIONS = {"code_field": "LAD13CD", "name_field": "LAD13NM", "kind": "district"}

pytestmark = pytest.mark.usefixtures("no_areas")


def test_it_imports_every_feature_as_an_area_of_the_given_kind(run: Callable[..., str]) -> None:
    out = run("import_areas", str(DISTRICTS), layer="lad", **DISTRICT_OPTIONS)

    assert "Created 11, updated 0, skipped 0 district areas." in out
    assert Area.objects.filter(kind=Area.Kind.DISTRICT).count() == 11
    worcester = Area.objects.get(code="E07000237")
    assert worcester.name == "Worcester"
    assert worcester.geom.contains(_point(WORCESTER))
    assert AreaPart.objects.filter(area=worcester, kind=Area.Kind.DISTRICT).exists()


def test_it_updates_areas_by_code_on_a_second_run_instead_of_duplicating_them(
    run: Callable[..., str],
) -> None:
    run("import_areas", str(DISTRICTS), **DISTRICT_OPTIONS)
    Area.objects.filter(code="E07000237").update(name="Old name")
    parts = AreaPart.objects.count()

    out = run("import_areas", str(DISTRICTS), **DISTRICT_OPTIONS)

    assert "Created 0, updated 11, skipped 0 district areas." in out
    assert Area.objects.count() == 11
    assert Area.objects.get(code="E07000237").name == "Worcester"
    assert AreaPart.objects.count() == parts


def test_it_imports_only_the_features_matching_where(run: Callable[..., str]) -> None:
    out = run(
        "import_areas", str(DISTRICTS), where="LAD13NM IN ('Wyre', 'Worcester')", **DISTRICT_OPTIONS
    )

    assert "Created 2, updated 0, skipped 0" in out
    # Whole names: "Wyre" (Lancashire) is not "Wyre Forest".
    assert sorted(Area.objects.values_list("name", flat=True)) == ["Worcester", "Wyre"]


def test_it_reprojects_a_layer_in_british_national_grid_to_wgs84(run: Callable[..., str]) -> None:
    out = run(
        "import_areas", str(FORCES_BNG), code_field="PFA20CD", name_field="PFA20NM", kind="force"
    )

    assert "(EPSG:27700)" in out
    force = Area.objects.get(code="E23000016")
    assert force.geom.srid == 4326
    assert force.geom.extent == pytest.approx((-3.2355, 51.8261, -1.7577, 52.9984), abs=1e-3)
    assert force.geom.contains(_point(WORCESTER))


def test_it_skips_features_it_cannot_store_and_says_why(
    run: Callable[..., str], tmp_path: Path
) -> None:
    square = {
        "type": "Polygon",
        "coordinates": [[[-2.3, 52.1], [-2.1, 52.1], [-2.1, 52.3], [-2.3, 52.1]]],
    }
    features = [
        ("A1", "A square", square),
        ("", "No code", square),
        ("A1", "Same code again", square),
        ("B2", "", square),
        ("C3", "No geometry", None),
        ("D4", "A point", {"type": "Point", "coordinates": [-2.2, 52.2]}),
    ]
    path = tmp_path / "areas.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {"type": "Feature", "properties": {"code": c, "name": n}, "geometry": g}
                    for c, n, g in features
                ],
            }
        )
    )

    out = run("import_areas", str(path), code_field="code", name_field="name", kind="ward")

    assert "Created 1, updated 0, skipped 5 ward areas." in out
    assert "feature 1: no code" in out
    assert "feature 2 (A1): code also used by feature 0" in out
    assert "feature 3 (B2): no name" in out
    assert "feature 4 (C3): no geometry" in out
    assert "feature 5 (D4): Point is not an area" in out
    assert list(Area.objects.values_list("code", flat=True)) == ["A1"]


def test_it_never_changes_the_kind_of_an_existing_area(run: Callable[..., str]) -> None:
    run("import_areas", str(DISTRICTS), where="LAD13NM = 'Worcester'", **DISTRICT_OPTIONS)

    out = run(
        "import_areas",
        str(DISTRICTS),
        where="LAD13NM = 'Worcester'",
        **{**DISTRICT_OPTIONS, "kind": "lpa"},
    )

    assert "(E07000237): already stored as a district area" in out
    assert Area.objects.get(code="E07000237").kind == Area.Kind.DISTRICT


@pytest.mark.parametrize(
    ("path", "options", "message"),
    [
        (
            DISTRICTS,
            {"layer": "districts"},
            "has no layer 'districts'; its layers are: lad",
        ),
        (
            DISTRICTS,
            {"code_field": "LAD13CODE"},
            "has no code field 'LAD13CODE'; its fields are: id, LAD13CD, LAD13CDO, LAD13NM",
        ),
        (
            DISTRICTS,
            {"name_field": "NAME"},
            "has no name field 'NAME'; its fields are: id, LAD13CD, LAD13CDO, LAD13NM",
        ),
        (
            DISTRICTS,
            {"where": "LAD13NAME = 'Worcester'"},
            '"LAD13NAME" not recognised as an available field',
        ),
        (DISTRICTS.with_suffix(".shp"), {}, "No such file: "),
        (BOUNDARIES_DIR / "README.md", {}, "GDAL cannot read "),
    ],
    ids=[
        "unknown layer",
        "unknown code field",
        "unknown name field",
        "bad where",
        "no file",
        "not vector data",
    ],
)
def test_it_refuses_what_it_cannot_read_and_names_the_problem(
    run: Callable[..., str], path: Path, options: dict[str, str], message: str
) -> None:
    with pytest.raises(CommandError, match=re.escape(message)) as error:
        run("import_areas", str(path), **{**DISTRICT_OPTIONS, **options})
    assert str(path) in str(error.value)
    assert not Area.objects.exists()

    # The same import without the mistake goes through.
    run("import_areas", str(DISTRICTS), **DISTRICT_OPTIONS)
    assert Area.objects.count() == 11


def _point(point: tuple[float, float]) -> Point:
    return Point(*point, srid=4326)
