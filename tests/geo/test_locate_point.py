import pytest
from pytest_django import DjangoAssertNumQueries

from geo.areas import locate_point
from geo.models import Area
from tests.fixtures.points import (
    BIRMINGHAM,
    HEREFORD,
    KIDDERMINSTER,
    LONDON,
    SHREWSBURY,
    TELFORD,
    WORCESTER,
)

# The session's West Mercia boundaries (tests/conftest.py), loaded from the fixture files.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("west_mercia")]


@pytest.mark.parametrize(
    ("point", "code", "name"),
    [
        (WORCESTER, "wm-south-worcestershire", "South Worcestershire"),
        (SHREWSBURY, "wm-shropshire", "Shropshire"),
        (HEREFORD, "wm-herefordshire", "Herefordshire"),
        (TELFORD, "wm-telford-wrekin", "Telford & Wrekin"),
        (KIDDERMINSTER, "wm-north-worcestershire", "North Worcestershire"),
    ],
    ids=["Worcester", "Shrewsbury", "Hereford", "Telford", "Kidderminster"],
)
def test_it_locates_each_town_in_its_local_policing_area(
    point: tuple[float, float], code: str, name: str
) -> None:
    location = locate_point(longitude=point[0], latitude=point[1])

    assert location.in_service_area
    assert (location.area_code, location.area_name) == (code, name)
    assert location.area_id == Area.objects.get(code=code).pk


@pytest.mark.parametrize("point", [BIRMINGHAM, LONDON], ids=["Birmingham", "London"])
def test_it_puts_points_beyond_the_force_outside_the_service_area(
    point: tuple[float, float],
) -> None:
    location = locate_point(longitude=point[0], latitude=point[1])

    assert not location.in_service_area
    assert (location.area_id, location.area_code, location.area_name) == (None, None, None)


def test_it_locates_a_point_in_one_query(
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    # 1. The pieces of force and policing areas (geo_areapart, GiST index) that hold the
    #    point, joined to their areas: geo.areas._LOCATE_SQL.
    with django_assert_num_queries(1):
        location = locate_point(longitude=WORCESTER[0], latitude=WORCESTER[1])

    assert location.area_code == "wm-south-worcestershire"
