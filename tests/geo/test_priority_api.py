"""GET /api/v1/priorities, its runs and their results, and the worker behind large ones.

Real PostGIS, a real Celery worker on the tests' Redis, GDAL's own tools reading the
GeoPackages back.
"""

import csv
import datetime as dt
import io
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries
from pytest_django.fixtures import Settings as SettingsWrapper
from rest_framework.test import APIClient

from geo.models import Organisation, PlannerProfile, PriorityRun
from geo.priorities import PENDING_REUSE_SECONDS, priority_run
from reports.models import Report
from tests.cast import PLANNER_PASSWORD, client_for, planner_make
from tests.fixtures.points import HEREFORD, SHREWSBURY, WORCESTER
from tests.geo.asset_factories import light_at
from tests.geo.hotspot_factories import Row, common_centre, insert_reports, scattered
from tests.support.celery import progress_recorded

pytestmark = pytest.mark.usefixtures("west_mercia")
# The worker's own connection must see the rows: these tests commit them.
committed = pytest.mark.django_db(transaction=True)

URL = "/api/v1/priorities"
SITE_COLUMNS = [
    "rank",
    "source",
    "gain",
    "reports",
    "reason_poor_lighting",
    "reason_isolated",
    "cost",
    "total_cost",
    "total_gain",
    "share",
]


def cluster(lonlat: tuple[float, float], count: int, *, east_m: int = 0, **fields: Any) -> None:
    """``count`` reports within a metre of a cell's centre near a place (``east_m`` a
    multiple of 75 m further east, another cell's centre): one cell's worth."""
    x, y = common_centre(lonlat)
    centre = (x + east_m, y)
    insert_reports([Row(x, y, **fields) for x, y in scattered(centre, count=count, spread_m=1.0)])


@pytest.fixture
def three_towns(db: None) -> None:
    """Shrewsbury (Shropshire): 5 and 3 reports in two places; Worcester 4; Hereford 2."""
    cluster(SHREWSBURY, 5)
    cluster(SHREWSBURY, 3, east_m=450, reasons=("isolated",))
    cluster(WORCESTER, 4)
    cluster(HEREFORD, 2)


def ask(client: APIClient, **params: Any) -> Any:
    return client.get(URL, {"intervention": "lighting", "budget": "100000", **params})


def sites(body: dict[str, Any]) -> list[int]:
    return [feature["properties"]["reports"] for feature in body["features"]]


def csv_rows(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8"))))


# --------------------------------------------------------------------------------------
# Answered in the request
# --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_planner_gets_the_sites_of_their_own_areas_in_order(
    shropshire_planner: User, force_planner: User, three_towns: None
) -> None:
    response = ask(client_for(shropshire_planner), budget="5000")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["type"] == "FeatureCollection"
    assert sites(body) == [5, 3]  # Shrewsbury's two places; nothing of Worcester
    assert [f["properties"]["total_cost"] for f in body["features"]] == [2500.0, 5000.0]
    assert (body["need"], body["budget"], body["unit_cost"], body["radius"]) == (
        "lighting",
        5000.0,
        2500.0,
        25,
    )
    assert body["area_code"] is None
    assert body["share_covered"] == pytest.approx(1.0)
    run = PriorityRun.objects.get()
    assert body["run"] == run.pk
    assert (run.user, run.organisation.name, run.status, run.progress) == (
        shropshire_planner,
        "Shropshire Council",
        "ready",
        1.0,
    )
    assert run.parameters == {
        "intervention": "lighting",
        "budget": 5000.0,
        "unit_cost": 2500.0,
        "radius": 25,
        "area": None,
    }
    assert run.result is not None and run.result["features"] == body["features"]
    assert run.started_at is not None and run.finished_at is not None

    everything = ask(client_for(force_planner), budget="1000000").json()

    assert sorted(sites(everything)) == [2, 3, 4, 5]


@pytest.mark.django_db
def test_an_area_narrows_the_scope_to_it_and_the_areas_inside(
    force_planner: User, three_towns: None
) -> None:
    client = client_for(force_planner)

    shropshire = ask(client, area="wm-shropshire").json()
    assert sites(shropshire) == [5, 3]
    assert shropshire["area_code"] == "wm-shropshire"

    # The force area: its local policing areas' reports.
    force = ask(client, area="E23000016").json()
    assert sorted(sites(force)) == [2, 3, 4, 5]


@pytest.mark.django_db
def test_unit_cost_and_radius_change_the_answer(force_planner: User, three_towns: None) -> None:
    client = client_for(force_planner)

    # 30,000 at 10,000 a site: three sites.
    assert sites(ask(client, budget="30000", unit_cost="10000").json()) == [5, 4, 3]
    # Cameras cost 15,000 by default; only the place felt isolated asks for them here.
    cameras = ask(client, intervention="cctv", budget="30000").json()
    assert (cameras["unit_cost"], cameras["radius"], sites(cameras)) == (15000.0, 50, [3])
    # A radius wide enough to reach both Shrewsbury places (450 m apart) from one site.
    wide = ask(client, budget="2500", radius="500", area="wm-shropshire").json()
    assert (wide["radius"], sites(wide)) == (500, [8])


@pytest.mark.django_db
def test_the_sites_as_csv_one_row_each_with_a_header(
    force_planner: User, three_towns: None
) -> None:
    response = ask(client_for(force_planner), format="csv", budget="5000")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    run = PriorityRun.objects.get()
    assert response["Content-Disposition"] == (
        f'attachment; filename="streetsafe-priorities-lighting-{run.pk}.csv"'
    )
    rows = csv_rows(response.content)
    assert list(rows[0]) == [*SITE_COLUMNS, "longitude", "latitude"]
    assert [row["rank"] for row in rows] == ["1", "2"]
    assert [row["reports"] for row in rows] == ["5", "4"]
    assert float(rows[0]["reason_poor_lighting"]) == pytest.approx(float(rows[0]["gain"]))
    assert float(rows[0]["reason_isolated"]) == 0.0
    # Within the kilometre common_centre moves a place by.
    assert abs(float(rows[0]["longitude"]) - SHREWSBURY[0]) < 0.015
    assert abs(float(rows[1]["latitude"]) - WORCESTER[1]) < 0.01


@pytest.mark.django_db
def test_the_sites_as_a_geopackage_gdal_opens(
    force_planner: User, three_towns: None, tmp_path: Path
) -> None:
    response = ask(client_for(force_planner), format="gpkg", budget="7500")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/geopackage+sqlite3"
    path = tmp_path / "sites.gpkg"
    path.write_bytes(response.content)
    info = subprocess.run(
        ["ogrinfo", "-ro", "-so", str(path), "priorities"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Geometry: Point" in info
    assert "Feature Count: 3" in info
    assert "EPSG" in info and "4326" in info
    assert "rank: Integer" in info and "gain: Real" in info and "source: String" in info
    rows = csv_rows(
        subprocess.run(
            ["ogr2ogr", "-f", "CSV", "/vsistdout/", str(path), "-lco", "GEOMETRY=AS_XY"],
            capture_output=True,
            check=True,
        ).stdout
    )
    assert [row["reports"] for row in rows] == ["5", "4", "3"]
    assert abs(float(rows[1]["X"]) - WORCESTER[0]) < 0.015


# --------------------------------------------------------------------------------------
# Reuse
# --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_same_question_again_is_answered_from_the_earlier_run(
    force_planner: User, west_mercia_police: Organisation, three_towns: None
) -> None:
    client = client_for(force_planner)
    first = ask(client, budget="5000").json()

    # The reports go, but no rebuild has moved the hotspots on: the answer is kept.
    Report.objects.filter(street="").delete()
    again = ask(client, budget="5000").json()

    assert again["run"] == first["run"]
    assert sites(again) == [5, 4]
    assert PriorityRun.objects.count() == 1

    # A colleague asking the same gets the answer as a run of their own.
    colleague = planner_make("colleague", west_mercia_police)
    theirs = ask(client_for(colleague), budget="5000").json()

    assert theirs["run"] != first["run"]
    assert sites(theirs) == [5, 4]
    assert PriorityRun.objects.get(pk=theirs["run"]).user == colleague

    # Another question is answered afresh.
    assert ask(client, budget="2500").json()["features"] == []


@pytest.mark.django_db
def test_new_assets_make_the_question_new(force_planner: User, three_towns: None) -> None:
    client = client_for(force_planner)
    first = ask(client, budget="2500").json()
    assert sites(first) == [5]

    light_at(xy=common_centre(SHREWSBURY))  # lights the first place

    second = ask(client, budget="2500").json()
    assert second["run"] != first["run"]
    assert sites(second) == [4]


# --------------------------------------------------------------------------------------
# Answered by a worker
# --------------------------------------------------------------------------------------


@pytest.fixture
def progress_seen() -> Iterator[list[float]]:
    """Every progress a run records, in order."""
    with progress_recorded(PriorityRun) as seen:
        yield seen


def wait_until_finished(client: APIClient, url: str, *, seconds: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        body: dict[str, Any] = client.get(url).json()
        if body["status"] in ("ready", "failed") or time.monotonic() > deadline:
            return body
        time.sleep(0.1)


@pytest.mark.slow
@committed
def test_a_large_question_is_answered_by_a_worker_which_reports_its_progress(
    shropshire_planner: User,
    settings: SettingsWrapper,
    celery_queue: str,
    progress_seen: list[float],
    tmp_path: Path,
) -> None:
    settings.PRIORITIES_INLINE_REPORTS = 5
    cluster(SHREWSBURY, 30)
    cluster(SHREWSBURY, 10, east_m=450)
    client = client_for(shropshire_planner)

    response = ask(client, budget="5000", format="csv")

    assert response.status_code == 202, response.content
    queued = response.json()
    assert (queued["status"], queued["progress"]) == ("queued", 0.0)
    assert queued["result_url"] is None
    assert response["Location"] == queued["url"]
    assert queued["url"].endswith(f"/api/v1/priorities/runs/{queued['id']}")
    body = wait_until_finished(client, queued["url"])
    assert (body["status"], body["progress"], body["error"]) == ("ready", 1.0, "")
    assert body["parameters"]["budget"] == 5000.0
    assert body["result_url"].endswith(f"/api/v1/priorities/runs/{queued['id']}/result")
    # Running at 0, then as the reading, the candidates and the choice are done; 1 when ready.
    assert progress_seen[0] == 0.0 and progress_seen[-1] == 1.0
    assert progress_seen == sorted(progress_seen) and len(progress_seen) >= 4

    answer = client.get(body["result_url"]).json()
    assert (answer["run"], sites(answer)) == (queued["id"], [30, 10])
    rows = csv_rows(client.get(body["result_url"], {"format": "csv"}).content)
    assert [row["reports"] for row in rows] == ["30", "10"]
    gpkg = client.get(body["result_url"], {"format": "gpkg"})
    assert gpkg.status_code == 200 and gpkg.content.startswith(b"SQLite format 3")

    # Run again, as a redelivered task would be: nothing changes.
    from geo.tasks import priority_run_task

    run = PriorityRun.objects.get(pk=queued["id"])
    assert priority_run_task.apply_async(args=(run.pk,), queue=celery_queue).get(timeout=30) == (
        "ready"
    )
    again = PriorityRun.objects.get(pk=run.pk)
    assert (again.finished_at, again.result) == (run.finished_at, run.result)


@pytest.fixture
def queued_run(shropshire_planner: User, settings: SettingsWrapper, three_towns: None) -> int:
    """A Shropshire question too large for the request; its task never sent, as the test's
    transaction never commits."""
    settings.PRIORITIES_INLINE_REPORTS = 0
    response = ask(client_for(shropshire_planner), budget="5000")
    assert response.status_code == 202
    return int(response.json()["id"])


@pytest.mark.django_db
def test_asking_again_while_a_run_waits_gives_that_run_until_it_looks_lost(
    shropshire_planner: User, queued_run: int, west_mercia_police: Organisation
) -> None:
    client = client_for(shropshire_planner)

    again = ask(client, budget="5000")
    other = ask(client, budget="7500")
    colleague = planner_make("colleague", west_mercia_police)
    theirs = ask(client_for(colleague), budget="5000")

    assert (again.status_code, again.json()["id"]) == (202, queued_run)
    assert other.json()["id"] != queued_run
    assert theirs.json()["id"] != queued_run

    # Queued for longer than a worker would ever take: most likely lost, so sent anew.
    PriorityRun.objects.filter(pk=queued_run).update(
        created_at=timezone.now() - dt.timedelta(seconds=PENDING_REUSE_SECONDS + 1)
    )
    fresh = ask(client, budget="5000")

    assert fresh.status_code == 202 and fresh.json()["id"] != queued_run


@pytest.mark.django_db
def test_the_result_of_a_run_not_ready_is_a_409(shropshire_planner: User, queued_run: int) -> None:
    client = client_for(shropshire_planner)

    response = client.get(f"{URL}/runs/{queued_run}/result")

    assert response.status_code == 409
    assert "queued" in response.json()["detail"]

    priority_run(run_id=queued_run)

    assert sites(client.get(f"{URL}/runs/{queued_run}/result").json()) == [5, 3]


@pytest.mark.django_db
def test_a_planner_moved_to_another_organisation_gets_nothing_of_the_old_scope(
    queued_run: int, shropshire_planner: User, west_mercia_police: Organisation
) -> None:
    PlannerProfile.objects.filter(user=shropshire_planner).update(organisation=west_mercia_police)

    run = priority_run(run_id=queued_run)

    assert (run.status, run.result) == ("failed", None)
    assert "another organisation" in run.error
    # Nor can they see it from the new organisation.
    assert client_for(shropshire_planner).get(f"{URL}/runs/{queued_run}").status_code == 404


@pytest.mark.django_db
def test_someone_no_longer_a_planner_gets_no_answer(
    queued_run: int, shropshire_planner: User
) -> None:
    shropshire_planner.groups.remove(Group.objects.get(name="planners"))

    run = priority_run(run_id=queued_run)

    assert run.status == "failed" and "no longer a planner" in run.error


# --------------------------------------------------------------------------------------
# Who may ask, and bad questions
# --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_only_the_owner_sees_a_run_or_its_result(
    shropshire_planner: User, force_planner: User, west_mercia_police: Organisation
) -> None:
    run = ask(client_for(force_planner), budget="5000").json()["run"]
    colleague = planner_make("colleague", west_mercia_police)

    for someone in (shropshire_planner, colleague):
        client = client_for(someone)
        assert client.get(f"{URL}/runs/{run}").status_code == 404
        assert client.get(f"{URL}/runs/{run}/result").status_code == 404
    assert client_for(force_planner).get(f"{URL}/runs/{run}").json()["status"] == "ready"
    assert client_for(force_planner).get(f"{URL}/runs/{2**63}").status_code == 404


@pytest.mark.django_db
def test_only_planners_may_ask(shropshire_planner: User) -> None:
    someone = User.objects.create_user("someone")
    anonymous = ask(client_for(None))
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"] == "Token"
    assert ask(client_for(someone)).status_code == 403
    for client, refused in ((client_for(None), 401), (client_for(someone), 403)):
        assert client.get(f"{URL}/runs/1").status_code == refused
        assert client.get(f"{URL}/runs/1/result").status_code == refused
    assert not PriorityRun.objects.exists()

    assert ask(client_for(shropshire_planner)).status_code == 200


@pytest.mark.django_db
def test_the_planner_map_asks_with_its_session(shropshire_planner: User) -> None:
    client = APIClient(enforce_csrf_checks=True)
    assert client.login(username=shropshire_planner.username, password=PLANNER_PASSWORD)

    assert ask(client).status_code == 200


BAD = [
    ({"intervention": ""}, "intervention"),
    ({"intervention": "patrol"}, "intervention"),
    ({"budget": ""}, "budget"),
    ({"budget": "0"}, "budget"),
    ({"budget": "-5000"}, "budget"),
    ({"budget": "lots"}, "budget"),
    ({"budget": "nan"}, "budget"),
    ({"budget": "inf"}, "budget"),
    ({"budget": "1e309"}, "budget"),
    ({"budget": "1000"}, "budget"),  # buys no light at 2,500
    ({"unit_cost": "0"}, "unit_cost"),
    ({"unit_cost": "-1"}, "unit_cost"),
    ({"unit_cost": "cheap"}, "unit_cost"),
    ({"radius": "4"}, "radius"),
    ({"radius": "501"}, "radius"),
    ({"radius": "25.5"}, "radius"),
    ({"radius": "far"}, "radius"),
    ({"area": "nowhere"}, "area"),
    ({"area": "wm-south-worcestershire"}, "area"),  # not Shropshire's
    ({"format": "shp"}, "format"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("params", "field"), BAD)
def test_a_bad_question_is_a_400_naming_the_parameter(
    shropshire_planner: User, params: dict[str, str], field: str
) -> None:
    client = client_for(shropshire_planner)

    response = ask(client, **params)

    assert response.status_code == 400, response.content
    body = response.json()
    assert body["detail"] == "Invalid input."
    assert list(body["errors"]) == [field], body
    assert not PriorityRun.objects.exists()

    assert ask(client).status_code == 200


@pytest.mark.django_db
def test_every_fault_is_named_at_once_and_a_parameter_given_twice_is_one(
    shropshire_planner: User,
) -> None:
    client = client_for(shropshire_planner)

    response = client.get(URL, {"budget": ["5000", "6000"], "radius": "0", "format": "pdf"})

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"intervention", "budget", "radius", "format"}
    assert "once" in response.json()["errors"]["budget"][0]


@pytest.mark.django_db
def test_the_status_of_a_run_takes_a_pinned_number_of_queries(
    shropshire_planner: User, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    client = client_for(shropshire_planner)
    run = ask(client).json()["run"]

    # 1. the token and its user; 2. the planner's organisation (its areas are cached);
    # 3. the run, if theirs.
    with django_assert_num_queries(3):
        response = client.get(f"{URL}/runs/{run}")

    assert response.json()["status"] == "ready"


@pytest.mark.django_db
def test_the_priorities_are_in_the_openapi_schema() -> None:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)

    paths = schema["paths"]
    question = paths["/api/v1/priorities"]["get"]
    assert {"200", "202", "400", "401", "403", "503"} <= set(question["responses"])
    assert set(question["responses"]["200"]["content"]) == {
        "application/json",
        "text/csv",
        "application/geopackage+sqlite3",
    }
    assert {p["name"] for p in question["parameters"]} == {
        "intervention",
        "budget",
        "unit_cost",
        "radius",
        "area",
        "format",
    }
    assert {"200", "404"} <= set(paths["/api/v1/priorities/runs/{run_id}"]["get"]["responses"])
    result = paths["/api/v1/priorities/runs/{run_id}/result"]["get"]
    assert {"200", "404", "409"} <= set(result["responses"])


@pytest.mark.django_db
def test_a_unit_cost_so_small_the_budget_buys_without_end_chooses_every_useful_site(
    force_planner: User, three_towns: None
) -> None:
    response = ask(client_for(force_planner), budget="1", unit_cost="5e-324")

    assert response.status_code == 200, response.content
    assert sorted(sites(response.json()), reverse=True) == [5, 4, 3, 2]
