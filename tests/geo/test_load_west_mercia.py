import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.gis.gdal import DataSource
from django.contrib.gis.geos import Point
from django.core.management.base import CommandError
from pytest_django import DjangoAssertNumQueries

from geo.management.commands.load_west_mercia import FORCE_CODE, LOCAL_POLICING_AREAS
from geo.models import Area, AreaPart
from tests.fixtures.areas import BOUNDARIES_DIR
from tests.fixtures.points import BIRMINGHAM, KIDDERMINSTER, WORCESTER

FORCES = BOUNDARIES_DIR / "police_force_areas_2020.geojson"
DISTRICTS = BOUNDARIES_DIR / "local_authority_districts_gb_2013.topojson"

pytestmark = pytest.mark.usefixtures("no_areas")


def test_it_loads_the_force_and_its_five_local_policing_areas(run: Callable[..., str]) -> None:
    run("load_west_mercia", data_dir=str(BOUNDARIES_DIR))

    force = Area.objects.get(code=FORCE_CODE)
    assert (force.name, force.kind, force.parent) == ("West Mercia", Area.Kind.FORCE, None)
    lpas = Area.objects.filter(kind=Area.Kind.LOCAL_POLICING_AREA).order_by("code")
    assert [(a.code, a.name, a.parent_id) for a in lpas] == [
        ("wm-herefordshire", "Herefordshire", force.pk),
        ("wm-north-worcestershire", "North Worcestershire", force.pk),
        ("wm-shropshire", "Shropshire", force.pk),
        ("wm-south-worcestershire", "South Worcestershire", force.pk),
        ("wm-telford-wrekin", "Telford & Wrekin", force.pk),
    ]
    # Only West Mercia: not its neighbour in the same file, and no districts unless asked.
    assert Area.objects.count() == 6
    assert AreaPart.objects.filter(area__in=lpas).values("area").distinct().count() == 5


def test_it_dissolves_north_worcestershire_from_its_three_whole_districts(
    run: Callable[..., str],
) -> None:
    run("load_west_mercia", data_dir=str(BOUNDARIES_DIR), districts=True)

    north = Area.objects.get(code="wm-north-worcestershire")
    assert north.geom.contains(Point(*KIDDERMINSTER, srid=4326))
    assert not north.geom.contains(Point(*WORCESTER, srid=4326))
    districts = Area.objects.filter(parent=north)
    assert sorted(d.name for d in districts) == ["Bromsgrove", "Redditch", "Wyre Forest"]
    # Dissolved edge to edge: one outline whose area is the districts' together, and nothing
    # of Wyre, in Lancashire, two degrees further north.
    assert north.geom.area == pytest.approx(sum(d.geom.area for d in districts), rel=1e-6)
    assert north.geom.extent[3] < 52.5


def test_it_stores_the_districts_under_their_policing_areas_when_asked(
    run: Callable[..., str],
) -> None:
    run("load_west_mercia", data_dir=str(BOUNDARIES_DIR), districts=True)

    districts = Area.objects.filter(kind=Area.Kind.DISTRICT)
    assert districts.count() == 9
    assert set(districts.values_list("parent__code", flat=True)) == {
        code for code, _, _ in LOCAL_POLICING_AREAS
    }
    assert not districts.filter(name__in=["Birmingham", "Wyre"]).exists()


def test_it_updates_rather_than_duplicates_when_run_again(run: Callable[..., str]) -> None:
    run("load_west_mercia", data_dir=str(BOUNDARIES_DIR))
    parts = AreaPart.objects.count()

    out = run("load_west_mercia", data_dir=str(BOUNDARIES_DIR))

    assert "Updated West Mercia" in out
    assert "Created" not in out
    assert Area.objects.count() == 6
    assert AreaPart.objects.count() == parts


def test_it_does_nothing_with_if_missing_when_the_areas_are_there(
    run: Callable[..., str], django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    run("load_west_mercia", data_dir=str(BOUNDARIES_DIR))
    before = dict(Area.objects.values_list("code", "updated_at"))

    # 1. Count the force area and the five local policing areas by code; nothing more.
    with django_assert_num_queries(1):
        out = run("load_west_mercia", data_dir=str(BOUNDARIES_DIR), if_missing=True)

    assert "already loaded" in out
    assert dict(Area.objects.values_list("code", "updated_at")) == before


def test_it_loads_with_if_missing_when_one_area_is_missing(run: Callable[..., str]) -> None:
    run("load_west_mercia", data_dir=str(BOUNDARIES_DIR))
    Area.objects.filter(code="wm-telford-wrekin").delete()

    out = run("load_west_mercia", data_dir=str(BOUNDARIES_DIR), if_missing=True)

    assert "Created Telford & Wrekin" in out
    assert Area.objects.count() == 6


def test_it_reads_the_districts_from_geojson_when_there_is_no_topojson(
    run: Callable[..., str], tmp_path: Path
) -> None:
    shutil.copy(FORCES, tmp_path)
    _districts_as_geojson(tmp_path / "local_authority_districts_gb_2013.geojson")

    run("load_west_mercia", data_dir=str(tmp_path))

    north = Area.objects.get(code="wm-north-worcestershire")
    assert north.geom.contains(Point(*KIDDERMINSTER, srid=4326))
    assert Area.objects.count() == 6


def test_it_reads_the_boundaries_folder_of_the_shared_data_layout(
    run: Callable[..., str], tmp_path: Path
) -> None:
    shutil.copytree(BOUNDARIES_DIR, tmp_path / "boundaries")

    run("load_west_mercia", data_dir=str(tmp_path))

    assert Area.objects.count() == 6


def test_it_names_the_files_it_cannot_find(run: Callable[..., str], tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=re.escape("police_force_areas_2020.geojson")):
        run("load_west_mercia", data_dir=str(tmp_path))
    assert not Area.objects.exists()


def test_it_names_a_district_missing_from_the_file_and_loads_nothing(
    run: Callable[..., str], tmp_path: Path
) -> None:
    shutil.copy(FORCES, tmp_path)
    _districts_as_geojson(
        tmp_path / "local_authority_districts_gb_2013.geojson", leave_out="Redditch"
    )

    with pytest.raises(CommandError, match="no district named 'Redditch'"):
        run("load_west_mercia", data_dir=str(tmp_path))
    assert not Area.objects.exists()


def test_it_refuses_a_file_without_the_force(run: Callable[..., str], tmp_path: Path) -> None:
    forces = json.loads(FORCES.read_text())
    forces["features"] = [f for f in forces["features"] if f["properties"]["PFA20CD"] != FORCE_CODE]
    (tmp_path / FORCES.name).write_text(json.dumps(forces))
    shutil.copy(DISTRICTS, tmp_path)

    with pytest.raises(CommandError, match="has 0 areas with PFA20CD = E23000016"):
        run("load_west_mercia", data_dir=str(tmp_path))
    assert not Area.objects.exists()


def test_birmingham_is_in_the_fixture_but_in_no_policing_area(run: Callable[..., str]) -> None:
    run("load_west_mercia", data_dir=str(BOUNDARIES_DIR))

    assert not Area.objects.filter(geom__contains=Point(*BIRMINGHAM, srid=4326)).exists()


def _districts_as_geojson(path: Path, *, leave_out: str = "") -> None:
    """The fixture's districts as GeoJSON, the way ogr2ogr would write them."""
    layer = DataSource(str(DISTRICTS))["lad"]
    features = [
        {
            "type": "Feature",
            "properties": {"LAD13CD": f.get("LAD13CD"), "LAD13NM": f.get("LAD13NM")},
            "geometry": json.loads(f.geom.json),
        }
        for f in layer
        if f.get("LAD13NM") != leave_out
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "name": "lad", "features": features}))
