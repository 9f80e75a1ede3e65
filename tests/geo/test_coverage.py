"""The coverage rule (geo.coverage): which reports are demand for an intervention, which of
them an existing working asset already covers, and what they weigh.

Real PostGIS: reports and assets at points of the analysis SRID, a few metres either side
of the radius.
"""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from pytest_django.fixtures import Settings as SettingsWrapper

from geo.coverage import (
    Need,
    coverage_radius,
    demand_mask,
    demand_reasons,
    demand_sql,
    uncovered_demand_sql,
)
from geo.models import Area
from geo.priorities import priorities_candidates
from reports.reasons import REASON_CODES
from tests.fixtures.points import HEREFORD, WORCESTER
from tests.geo.asset_factories import camera_at, light_at
from tests.geo.hotspot_factories import XY, Row, insert_reports, projected

pytestmark = [pytest.mark.usefixtures("west_mercia"), pytest.mark.django_db]


def count_where(condition: tuple[str, dict]) -> int:
    sql, params = condition
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM reports_report r WHERE {sql}", params)
        return int(cursor.fetchone()[0])


def uncovered(need: Need) -> int:
    return count_where(uncovered_demand_sql(need))


def east_of(point: XY, metres: float) -> XY:
    return point[0] + metres, point[1]


@pytest.fixture
def worcester() -> XY:
    return projected(WORCESTER)


# --------------------------------------------------------------------------------------
# Demand
# --------------------------------------------------------------------------------------


def test_the_reasons_that_make_demand_are_those_mapped_to_the_intervention() -> None:
    assert demand_reasons(Need.LIGHTING) == ("poor_lighting", "isolated")
    assert demand_reasons(Need.CCTV) == (
        "no_cctv",
        "isolated",
        "followed",
        "harassment_individual",
        "harassment_group",
    )
    assert demand_mask(Need.LIGHTING) == (1 << REASON_CODES.index("poor_lighting")) | (
        1 << REASON_CODES.index("isolated")
    )


def test_only_unsafe_reports_with_a_mapped_reason_are_demand(worcester: XY) -> None:
    insert_reports(
        [
            Row(*worcester, reasons=("poor_lighting",)),
            Row(*worcester, reasons=("isolated", "run_down")),
            Row(*worcester, reasons=("no_cctv",)),
            Row(*worcester, reasons=("run_down", "drugs_alcohol")),
            # A place that feels safe is a contrast, never demand, whatever it mentions.
            Row(*worcester, reasons=("poor_lighting",), feeling="safe"),
            Row(*worcester, reasons=(), feeling="safe"),
        ]
    )

    assert count_where(demand_sql(Need.LIGHTING)) == 2
    assert count_where(demand_sql(Need.CCTV)) == 2  # isolated and no_cctv
    assert uncovered(Need.LIGHTING) == 2


# --------------------------------------------------------------------------------------
# Lighting
# --------------------------------------------------------------------------------------


def test_a_working_light_within_the_radius_covers_a_report(worcester: XY) -> None:
    insert_reports([Row(*worcester, reasons=("poor_lighting",))])
    assert uncovered(Need.LIGHTING) == 1

    light_at(xy=east_of(worcester, 24.9))

    assert uncovered(Need.LIGHTING) == 0


def test_a_light_exactly_at_the_radius_covers_and_one_just_beyond_does_not(
    worcester: XY,
) -> None:
    insert_reports([Row(*worcester, reasons=("poor_lighting",))])
    light_at(xy=east_of(worcester, 25.001))
    assert uncovered(Need.LIGHTING) == 1

    light_at(xy=(worcester[0], worcester[1] + 25.0))

    assert uncovered(Need.LIGHTING) == 0


def test_a_light_30_m_away_does_not_cover(worcester: XY) -> None:
    insert_reports([Row(*worcester, reasons=("isolated",))])
    light_at(xy=east_of(worcester, 30))

    assert uncovered(Need.LIGHTING) == 1


def test_a_faulty_light_does_not_cover(worcester: XY) -> None:
    insert_reports([Row(*worcester, reasons=("poor_lighting",))])
    light = light_at(xy=east_of(worcester, 5), working=False)
    assert uncovered(Need.LIGHTING) == 1

    light.working = True
    light.save(update_fields=["working"])

    assert uncovered(Need.LIGHTING) == 0


def test_the_light_radius_is_a_setting(worcester: XY, settings: SettingsWrapper) -> None:
    insert_reports([Row(*worcester, reasons=("poor_lighting",))])
    light_at(xy=east_of(worcester, 30))

    settings.LIGHT_RADIUS_M = 35

    assert coverage_radius(Need.LIGHTING) == 35
    assert uncovered(Need.LIGHTING) == 0


def test_lights_do_not_cover_camera_demand_nor_cameras_lighting_demand(worcester: XY) -> None:
    insert_reports([Row(*worcester, reasons=("poor_lighting", "no_cctv"))])
    light_at(xy=east_of(worcester, 1))
    assert (uncovered(Need.LIGHTING), uncovered(Need.CCTV)) == (0, 1)

    camera_at(xy=east_of(worcester, 1))

    assert (uncovered(Need.LIGHTING), uncovered(Need.CCTV)) == (0, 0)


# --------------------------------------------------------------------------------------
# Cameras
# --------------------------------------------------------------------------------------


def test_a_working_public_space_camera_within_50_m_covers(worcester: XY) -> None:
    insert_reports([Row(*worcester, reasons=("followed",))])
    camera_at(xy=east_of(worcester, 55))
    assert uncovered(Need.CCTV) == 1

    camera_at(xy=east_of(worcester, 49))

    assert uncovered(Need.CCTV) == 0


def test_traffic_private_and_broken_cameras_do_not_cover(worcester: XY) -> None:
    insert_reports([Row(*worcester, reasons=("harassment_group",))])
    camera_at(xy=east_of(worcester, 10), kind="traffic")
    camera_at(xy=east_of(worcester, 10), kind="private")
    camera_at(xy=east_of(worcester, 10), kind="public_space", working=False)

    assert uncovered(Need.CCTV) == 1


# --------------------------------------------------------------------------------------
# Weights, as the priorities read them
# --------------------------------------------------------------------------------------


def test_demand_is_weighted_by_severity_and_halved_every_half_life(
    worcester: XY, settings: SettingsWrapper
) -> None:
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    half_life = timedelta(days=settings.HOTSPOT_HALF_LIFE_DAYS)
    insert_reports(
        [
            Row(*worcester, severity=1, received_at=now),
            Row(*worcester, severity=None, received_at=now),
            Row(*worcester, severity=3, received_at=now),
            Row(*worcester, severity=3, received_at=now - half_life),
            # When it was felt counts, not when it was sent.
            Row(*worcester, severity=2, felt_at=now - 2 * half_life, received_at=now),
        ]
    )
    scope = list(Area.objects.values_list("pk", flat=True))

    candidates = priorities_candidates(need=Need.LIGHTING, radius=25, area_ids=scope, now=now)

    weights = sorted(candidates.weights.tolist())
    assert weights == pytest.approx([0.5, 1.0, 1.5, 2.0, 3.0])
    assert candidates.demand_total == pytest.approx(8.0)


def test_covered_reports_and_reports_outside_the_scope_weigh_nothing(worcester: XY) -> None:
    hereford = projected(HEREFORD)
    insert_reports([Row(*worcester), Row(*east_of(worcester, 200)), Row(*hereford), Row(*hereford)])
    light_at(xy=worcester)
    south_worcestershire = Area.objects.get(code="wm-south-worcestershire")

    candidates = priorities_candidates(
        need=Need.LIGHTING, radius=25, area_ids=[south_worcestershire.pk]
    )

    assert candidates.demand_reports == 1
    assert settings.ANALYSIS_SRID == 27700  # the metres above are metres
