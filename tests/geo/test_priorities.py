"""The budgeted choice of sites (geo.priorities): the greedy choice against the exact optimum
of the integer programme, and what every answer must get right (double counting, the
budget, the candidates, the reasons).

Real PostGIS; the optimum from PuLP's bundled CBC. Instances are made from real police.uk
map points (tests/fixtures/police-uk), jittered as the demo reports are.
"""

import csv
import json
import math
import random
import time
import warnings
from collections import defaultdict
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pulp
import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from pytest_django.fixtures import Settings as SettingsWrapper

from geo.coverage import Need, demand_reasons, uncovered_demand_sql
from geo.hotspots.weights import WEIGHT_SQL, weight_parameters
from geo.models import Area
from geo.priorities import (
    CELL,
    LAMP_COLUMN,
    Candidates,
    Priorities,
    Site,
    affordable_sites,
    greedy_choice,
    priorities_candidates,
    priorities_choose,
    priorities_geojson,
    sites_choose,
)
from reports.reasons import REASON_CODES
from tests.fixtures.points import HEREFORD, SHREWSBURY, WORCESTER
from tests.geo.asset_factories import light_at
from tests.geo.hotspot_factories import (
    XY,
    LonLat,
    Row,
    common_centre,
    insert_reports,
    projected,
    scattered,
)

pytestmark = [pytest.mark.usefixtures("west_mercia"), pytest.mark.django_db]

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "police-uk" / "west-mercia"


def hour() -> datetime:
    """Now, on the hour: reports are stored received on the hour, so weigh exactly 1, 2, 3."""
    return timezone.now().replace(minute=0, second=0, microsecond=0)


def everywhere() -> list[int]:
    return list(Area.objects.values_list("pk", flat=True))


def choose(need: Need = Need.LIGHTING, **options: Any) -> Priorities:
    values: dict[str, Any] = {
        "budget": 100_000.0,
        "unit_cost": 2500.0,
        "radius": 25,
        "area_ids": everywhere(),
        "now": hour(),
        **options,
    }
    return priorities_choose(need=need, **values)


# --------------------------------------------------------------------------------------
# The exact optimum
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Optimum:
    value: float
    chosen: list[int]
    proven: bool
    seconds: float


def optimum(candidates: Candidates, *, max_sites: int, time_limit: float | None = None) -> Optimum:
    """The most demand ``max_sites`` of the candidates can cover, by integer programming:

        maximise   sum over reports r of w_r y_r
        subject to y_r <= sum of x_c over the candidates c that cover r
                   sum of x_c <= max_sites (every site costs the same)
                   x_c in {0, 1}, 0 <= y_r <= 1

    solved by CBC. Reports covered by the same set of candidates are one y, weighing their
    sum: the same programme, smaller. ``proven`` is False when the time limit stopped CBC
    before it proved its best solution optimal.
    """
    owners = np.repeat(np.arange(len(candidates)), np.diff(candidates.starts))
    covering: dict[int, list[int]] = defaultdict(list)
    for candidate, report in zip(owners.tolist(), candidates.members.tolist(), strict=True):
        covering[report].append(candidate)
    groups: dict[tuple[int, ...], float] = defaultdict(float)
    for report, sites in covering.items():
        groups[tuple(sites)] += float(candidates.weights[report])

    with warnings.catch_warnings():
        # PuLP 3 announces the API of PuLP 4; the dev extra keeps PuLP below 4.
        warnings.simplefilter("ignore", DeprecationWarning)
        problem = pulp.LpProblem("maximum_coverage", pulp.LpMaximize)
        x = [pulp.LpVariable(f"x{c}", cat=pulp.LpBinary) for c in range(len(candidates))]
        y = [pulp.LpVariable(f"y{g}", lowBound=0, upBound=1) for g in range(len(groups))]
        problem += pulp.lpSum(weight * y[g] for g, weight in enumerate(groups.values()))
        for g, by in enumerate(groups):
            problem += y[g] <= pulp.lpSum(x[c] for c in by)
        problem += pulp.lpSum(x) <= max_sites
        started = time.perf_counter()
        problem.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit, gapRel=0))
        seconds = time.perf_counter() - started
    chosen = [c for c, variable in enumerate(x) if (variable.value() or 0) > 0.5]
    # The value of the chosen sites themselves: y may sit below 1 where it need not.
    covered = np.zeros(len(candidates.weights), dtype=bool)
    for c in chosen:
        covered[candidates.covers(c)] = True
    return Optimum(
        value=float(candidates.weights[covered].sum()),
        chosen=chosen,
        proven=problem.sol_status == pulp.LpSolutionOptimal,
        seconds=seconds,
    )


def fixture_points(near: LonLat, *, km: float) -> list[LonLat]:
    """The police.uk map points of the fixture files within ``km`` of a place."""
    found = []
    for path in sorted(FIXTURES.glob("*.csv")):
        with path.open(encoding="utf-8") as rows:
            for row in csv.DictReader(rows):
                if not row["Longitude"]:
                    continue
                lonlat = (float(row["Longitude"]), float(row["Latitude"]))
                east = (lonlat[0] - near[0]) * 111.32 * math.cos(math.radians(near[1]))
                north = (lonlat[1] - near[1]) * 110.57
                if math.hypot(east, north) <= km:
                    found.append(lonlat)
    return found


def real_instance(*, seed: int, need: Need, draws: int, lamps: int = 0) -> None:
    """Reports around random draws of real map points near Hereford (a point drawn twice
    holds twice as many), of random severity and age, giving the intervention's reasons or
    others; and lamp columns at some of the points."""
    rng = random.Random(seed)
    points = [projected(lonlat) for lonlat in fixture_points(HEREFORD, km=2.0)]
    assert len(points) >= 20
    now = hour()
    mine = demand_reasons(need)
    others = tuple(code for code in REASON_CODES if code not in mine)
    rows = []
    for draw in range(draws):
        centre = rng.choice(points)
        spread = rng.uniform(10, 90)
        for x, y in scattered(centre, count=rng.randint(1, 8), spread_m=spread, seed=seed * draw):
            reasons = rng.sample(mine, rng.randint(1, 2)) if rng.random() < 0.85 else [others[0]]
            rows.append(
                Row(
                    x,
                    y,
                    reasons=tuple(reasons),
                    severity=rng.choice((1, 2, 3, None)),
                    received_at=now - timedelta(days=rng.uniform(0, 400)),
                )
            )
    insert_reports(rows)
    for _ in range(lamps):
        x, y = rng.choice(points)
        light_at(xy=(x + rng.uniform(-40, 40), y + rng.uniform(-40, 40)), working=False)


# (seed, need, radius, sites, draws, lamp columns)
INSTANCES = [
    (1, Need.LIGHTING, 25, 3, 40, 0),
    (2, Need.LIGHTING, 40, 5, 60, 0),
    (3, Need.LIGHTING, 70, 4, 80, 0),
    (4, Need.LIGHTING, 120, 6, 120, 0),
    (5, Need.CCTV, 50, 6, 80, 30),
    (6, Need.CCTV, 90, 3, 60, 20),
    (7, Need.CCTV, 150, 5, 100, 40),
]


@pytest.mark.parametrize(("seed", "need", "radius", "sites", "draws", "lamps"), INSTANCES)
def test_the_greedy_choice_covers_at_least_98_percent_of_the_optimum(
    seed: int, need: Need, radius: int, sites: int, draws: int, lamps: int
) -> None:
    real_instance(seed=seed, need=need, draws=draws, lamps=lamps)
    candidates = priorities_candidates(need=need, radius=radius, area_ids=everywhere(), now=hour())
    # A real choice: more candidates than sites, some of them overlapping.
    assert len(candidates) > 3 * sites
    assert len(candidates.members) > len(np.unique(candidates.members))

    greedy = sum(pick.gain for pick in greedy_choice(candidates, max_sites=sites))
    chosen = sites_choose(candidates, max_sites=sites)
    best = optimum(candidates, max_sites=sites)

    assert best.proven
    assert len(best.chosen) <= sites
    covered = sum(pick.gain for pick in chosen)
    assert best.value >= covered - 1e-9  # CBC's optimum is one
    assert len(chosen) <= sites
    assert covered >= greedy - 1e-9
    assert covered >= 0.98 * best.value, (greedy, covered, best.value)


def test_the_lazy_greedy_chooses_as_the_plain_greedy_does() -> None:
    real_instance(seed=11, need=Need.CCTV, draws=80, lamps=30)
    candidates = priorities_candidates(need=Need.CCTV, radius=80, area_ids=everywhere(), now=hour())

    lazy = greedy_choice(candidates, max_sites=12)

    covered = np.zeros(len(candidates.weights), dtype=bool)
    plain = []
    for _ in range(12):
        gains = [
            candidates.weights[reach[~covered[reach]]].sum()
            for reach in (candidates.covers(c) for c in range(len(candidates)))
        ]
        best = int(np.argmax(gains))  # the first of equal gains, as the lazy one
        if gains[best] <= 0:
            break
        covered[candidates.covers(best)] = True
        plain.append((best, float(gains[best])))
    assert [pick.candidate for pick in lazy] == [candidate for candidate, _ in plain]
    assert [pick.gain for pick in lazy] == pytest.approx([gain for _, gain in plain])


def test_each_candidate_covers_exactly_what_postgis_finds_within_the_radius() -> None:
    real_instance(seed=21, need=Need.CCTV, draws=50, lamps=20)
    now = hour()
    radius = 60
    candidates = priorities_candidates(
        need=Need.CCTV, radius=radius, area_ids=everywhere(), now=now
    )
    uncovered, params = uncovered_demand_sql(Need.CCTV)

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT c.n, count(r.*), coalesce(sum({WEIGHT_SQL}), 0)"
            " FROM unnest(%(xs)s::float8[], %(ys)s::float8[]) WITH ORDINALITY AS c (x, y, n)"
            " LEFT JOIN reports_report r ON ST_DWithin("
            "   r.location_projected, ST_SetSRID(ST_MakePoint(c.x, c.y), %(srid)s), %(radius)s)"
            f"  AND {uncovered}"
            " GROUP BY c.n ORDER BY c.n",
            {
                **params,
                **weight_parameters(now),
                "xs": candidates.x.tolist(),
                "ys": candidates.y.tolist(),
                "srid": settings.ANALYSIS_SRID,
                "radius": radius,
            },
        )
        found = cursor.fetchall()

    assert [count for _, count, _ in found] == np.diff(candidates.starts).tolist()
    assert [weight for _, _, weight in found] == pytest.approx(candidates.gains().tolist())
    assert candidates.lamp.any() and not candidates.lamp.all()


# --------------------------------------------------------------------------------------
# What every answer gets right
# --------------------------------------------------------------------------------------


def cluster(centre: XY, count: int, *, spread_m: float = 5.0, **fields: object) -> None:
    insert_reports(
        [Row(x, y, **fields) for x, y in scattered(centre, count=count, spread_m=spread_m)]  # type: ignore[arg-type]
    )


def test_a_report_two_sites_reach_counts_once() -> None:
    a = common_centre(WORCESTER)
    b = (a[0] + 75.0, a[1])  # the next cell centre but one along the row
    cluster(a, 10)
    cluster(b, 6)

    wide = choose(radius=120)

    # Either centre reaches both clusters: the second site would add nothing.
    assert [site.reports for site in wide.sites] == [16]
    assert wide.demand_covered == pytest.approx(wide.demand_total) == pytest.approx(32.0)
    assert wide.share_covered == 1.0

    narrow = choose(radius=25)

    assert [site.reports for site in narrow.sites] == [10, 6]
    assert [site.gain for site in narrow.sites] == pytest.approx([20.0, 12.0])
    assert sum(site.gain for site in narrow.sites) == pytest.approx(narrow.demand_covered)


def test_overlapping_sites_gain_only_what_is_new() -> None:
    a = common_centre(SHREWSBURY)
    cluster(a, 10, spread_m=1.0)
    cluster((a[0] + 37.5, a[1] + 21.650635), 4, spread_m=1.0)  # the next column's cell
    cluster((a[0] + 75.0, a[1]), 8, spread_m=1.0)

    answer = choose(radius=45)

    # The middle cell's centre reaches its own and, 43.3 m away, both others.
    assert [site.reports for site in answer.sites] == [22]
    assert answer.reports_covered == 22


@pytest.fixture
def five_towns_of_sizes() -> list[int]:
    """Clusters of 10, 8, 6, 4 and 2 reports, each in a cell of its own, far apart."""
    sizes = [10, 8, 6, 4, 2]
    base = common_centre(HEREFORD)
    for k, size in enumerate(sizes):
        cluster((base[0] + 600.0 * k, base[1]), size)
    return sizes


def test_the_sites_come_in_order_of_gain_with_running_totals(
    five_towns_of_sizes: list[int],
) -> None:
    answer = choose(budget=10_000.0, unit_cost=2500.0)

    assert [site.rank for site in answer.sites] == [1, 2, 3, 4]
    assert [site.reports for site in answer.sites] == [10, 8, 6, 4]
    assert [site.gain for site in answer.sites] == pytest.approx([20, 16, 12, 8])
    assert [site.total_gain for site in answer.sites] == pytest.approx([20, 36, 48, 56])
    assert [site.cost for site in answer.sites] == [2500.0] * 4
    assert [site.total_cost for site in answer.sites] == [2500.0, 5000.0, 7500.0, 10_000.0]
    assert [site.share for site in answer.sites] == pytest.approx(
        [20 / 60, 36 / 60, 48 / 60, 56 / 60]
    )
    assert (answer.cost_total, answer.demand_total, answer.demand_covered) == pytest.approx(
        (10_000.0, 60.0, 56.0)
    )
    assert answer.share_covered == pytest.approx(56 / 60)
    assert {site.source for site in answer.sites} == {CELL}


def test_the_budget_buys_whole_sites_only(five_towns_of_sizes: list[int]) -> None:
    assert len(choose(budget=9_999.0, unit_cost=2500.0).sites) == 3
    assert len(choose(budget=2_500.0, unit_cost=2500.0).sites) == 1
    # 0.3 / 0.1 is 2.9999999999999996 in binary: still three sites.
    assert affordable_sites(0.3, 0.1) == 3
    assert len(choose(budget=0.3, unit_cost=0.1).sites) == 3
    assert choose(budget=1_000.0, unit_cost=2500.0).sites == []


def test_it_stops_when_no_demand_is_left_however_large_the_budget(
    five_towns_of_sizes: list[int],
) -> None:
    answer = choose(budget=10_000_000.0, unit_cost=2500.0)

    assert len(answer.sites) == 5
    assert answer.cost_total == 12_500.0
    assert answer.share_covered == 1.0
    assert answer.reports_covered == answer.demand_reports == 30


def test_candidates_are_the_cells_holding_the_most_demand(
    five_towns_of_sizes: list[int], settings: SettingsWrapper
) -> None:
    settings.PRIORITIES_MAX_CANDIDATES = 2

    answer = choose(budget=10_000_000.0)

    assert answer.candidate_count == 2
    assert [site.reports for site in answer.sites] == [10, 8]
    assert answer.share_covered == pytest.approx(36 / 60)


def test_a_cell_site_is_the_centre_of_the_finest_postgis_hexagon_holding_the_demand() -> None:
    lonlat = (-2.7201, 52.0551)  # in Hereford, anywhere in its cell
    x, y = projected(lonlat)
    cluster((x, y), 3, spread_m=2.0)
    size = min(settings.HOTSPOT_RESOLUTIONS) / 2.0

    [site] = choose(budget=2500.0).sites

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_Distance(ST_Centroid(h.geom), ST_Transform("
            "   ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326), %(srid)s))"
            " FROM ST_HexagonGrid(%(size)s, ST_Expand(ST_SetSRID("
            "   ST_MakePoint(%(x)s, %(y)s), %(srid)s), 100)) AS h"
            " WHERE ST_Intersects(h.geom, ST_SetSRID(ST_MakePoint(%(x)s, %(y)s), %(srid)s))",
            {
                "lon": site.longitude,
                "lat": site.latitude,
                "x": x,
                "y": y,
                "size": size,
                "srid": settings.ANALYSIS_SRID,
            },
        )
        [(distance,)] = cursor.fetchall()
    assert distance < 0.05  # metres: the 7-decimal coordinates' rounding


def test_reasons_sum_the_newly_covered_weight_of_each_largest_first() -> None:
    centre = common_centre(HEREFORD)
    cluster(centre, 3, reasons=("isolated",))
    cluster(centre, 2, reasons=("isolated", "poor_lighting"), severity=3)
    cluster(centre, 1, reasons=("poor_lighting", "drugs_alcohol"), severity=1)

    [site] = choose(budget=2500.0).sites

    assert site.reports == 6
    assert site.gain == pytest.approx(3 * 2 + 2 * 3 + 1)
    assert site.reasons == pytest.approx({"isolated": 12.0, "poor_lighting": 7.0})
    assert list(site.reasons) == ["isolated", "poor_lighting"]


def test_lamp_columns_are_camera_candidates_whatever_their_state() -> None:
    a = common_centre(WORCESTER)
    b = (a[0] + 90.0, a[1])
    cluster(a, 6, reasons=("followed",))
    cluster(b, 5, reasons=("no_cctv", "poor_lighting"))
    column = light_at(xy=(a[0] + 45.0, a[1] + 3.0), working=False)

    cameras = choose(Need.CCTV, budget=15_000.0, unit_cost=15_000.0, radius=50)

    # The column, 45 m from both, reaches what no cell's centre does alone.
    [site] = cameras.sites
    assert (site.source, site.reports) == (LAMP_COLUMN, 11)
    assert site.longitude == pytest.approx(column.location.x, abs=1e-6)
    assert site.latitude == pytest.approx(column.location.y, abs=1e-6)

    lights = choose(Need.LIGHTING, budget=2500.0, radius=50)

    # Lighting places new columns: existing ones are no candidates for it.
    assert [site.source for site in lights.sites] == [CELL]


def test_only_reports_in_the_scope_count() -> None:
    cluster(common_centre(HEREFORD), 4)
    cluster(common_centre(WORCESTER), 9)
    herefordshire = Area.objects.get(code="wm-herefordshire")

    answer = choose(area_ids=[herefordshire.pk], area_code="wm-herefordshire")

    assert [site.reports for site in answer.sites] == [4]
    assert answer.demand_reports == 4
    assert answer.area_code == "wm-herefordshire"
    assert abs(answer.sites[0].longitude - HEREFORD[0]) < 0.01


def test_no_demand_is_an_answer_with_no_sites() -> None:
    cluster(common_centre(HEREFORD), 4, reasons=("run_down",))

    answer = choose()

    assert answer.sites == []
    assert (answer.demand_total, answer.share_covered, answer.candidate_count) == (0.0, 0.0, 0)
    assert choose(area_ids=[]).sites == []


def test_progress_runs_from_0_to_under_1() -> None:
    cluster(common_centre(HEREFORD), 4)
    seen: list[float] = []

    choose(progress=seen.append)

    assert seen[0] == 0.0
    assert seen == sorted(seen)
    assert seen[-1] < 1.0


def test_the_geojson_has_every_site_as_a_point_and_the_totals_beside(
    five_towns_of_sizes: list[int],
) -> None:
    answer = choose(budget=5000.0, area_code="wm-herefordshire")

    collection = priorities_geojson(answer)

    json.dumps(collection, allow_nan=False)
    assert collection["type"] == "FeatureCollection"
    assert {
        "need": collection["need"],
        "budget": collection["budget"],
        "unit_cost": collection["unit_cost"],
        "radius": collection["radius"],
        "area_code": collection["area_code"],
        "site_count": collection["site_count"],
        "demand_reports": collection["demand_reports"],
        "reports_covered": collection["reports_covered"],
    } == {
        "need": "lighting",
        "budget": 5000.0,
        "unit_cost": 2500.0,
        "radius": 25,
        "area_code": "wm-herefordshire",
        "site_count": 2,
        "demand_reports": 30,
        "reports_covered": 18,
    }
    assert collection["demand_total"] == pytest.approx(60.0)
    assert collection["demand_covered"] == pytest.approx(36.0)
    assert collection["share_covered"] == pytest.approx(0.6)
    assert (collection["cost_total"], collection["candidate_count"]) == (5000.0, 5)
    first = collection["features"][0]
    assert first["geometry"]["type"] == "Point"
    assert first["geometry"]["coordinates"] == [
        first["properties"]["longitude"],
        first["properties"]["latitude"],
    ]
    assert list(first["properties"]) == [field.name for field in fields(Site)]
    assert first["properties"]["rank"] == 1
    assert first["properties"]["reasons"] == pytest.approx({"poor_lighting": 20.0})


def test_exchanges_mend_a_greedy_choice_that_overlaps_badly() -> None:
    # Reports a, b, c, d weigh 1, 2, 2, 1. The middle site covers b and c: the best alone,
    # which greedy takes first; then a or d, covering 5 of 6. The two outer sites cover all.
    candidates = Candidates(
        x=np.zeros(3),
        y=np.zeros(3),
        lamp=np.zeros(3, dtype=bool),
        starts=np.array([0, 2, 4, 6]),
        members=np.array([0, 1, 2, 3, 1, 2]),
        weights=np.array([1.0, 2.0, 2.0, 1.0]),
        bits=np.ones(4, dtype=np.int32),
    )

    greedy = greedy_choice(candidates, max_sites=2)
    chosen = sites_choose(candidates, max_sites=2)

    assert [(pick.candidate, pick.gain) for pick in greedy] == [(2, 4.0), (0, 1.0)]
    assert [(pick.candidate, pick.gain) for pick in chosen] == [(0, 3.0), (1, 3.0)]
    assert optimum(candidates, max_sites=2).value == 6.0
    # With one site there is nothing to mend.
    assert [pick.candidate for pick in sites_choose(candidates, max_sites=1)] == [2]
