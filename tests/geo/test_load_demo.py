"""manage.py load_demo: demo reports around the real police.uk crime in West Mercia."""

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from statistics import mean
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.gis.geos import GEOSGeometry, Point
from django.core.management.base import CommandError
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries

from geo import demo
from geo.access import planner_organisation
from geo.areas import locate_points, service_area_outline
from geo.demo import demo_load
from geo.models import Area, Camera, Organisation
from reports.models import ModerationDecision, Report
from reports.reasons import REASON_CODES
from tests.cast import client_for
from tests.conftest import a_report
from tests.fixtures.points import LONDON, WORCESTER

FIXTURE_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "police-uk" / "west-mercia"
# The fixture (see its README): 359 rows, 4 without coordinates, 5 outside the force area.
ROWS_WITH_COORDINATES = 355
ROWS_WITHOUT_COORDINATES = 4
ROWS_OUTSIDE = 5
ROWS_INSIDE = ROWS_WITH_COORDINATES - ROWS_OUTSIDE
HEADER = [
    "Crime ID", "Month", "Reported by", "Falls within", "Longitude", "Latitude", "Location",
    "LSOA code", "LSOA name", "Crime type", "Last outcome category", "Context",
]  # fmt: skip
LONDON_TZ = ZoneInfo("Europe/London")

# What each crime type's reports may give as reasons, and the reason most often given first.
EXPECTED_REASONS: dict[str, tuple[str, set[str]]] = {
    "Violence and sexual offences": (
        "followed",
        {"followed", "harassment_individual", "isolated", "poor_lighting"},
    ),
    "Robbery": ("isolated", {"isolated", "poor_lighting", "followed", "no_cctv"}),
    "Public order": ("harassment_group", {"harassment_group", "drugs_alcohol"}),
    "Anti-social behaviour": (
        "harassment_group",
        {"harassment_group", "drugs_alcohol", "run_down"},
    ),
    "Burglary": ("poor_lighting", {"poor_lighting", "no_cctv", "isolated"}),
    "Vehicle crime": ("poor_lighting", {"poor_lighting", "no_cctv", "isolated"}),
    "Bicycle theft": ("poor_lighting", {"poor_lighting", "no_cctv", "isolated"}),
    "Theft from the person": ("poor_lighting", {"poor_lighting", "no_cctv", "isolated"}),
    "Criminal damage and arson": ("run_down", {"run_down", "no_cctv"}),
    "Drugs": ("drugs_alcohol", {"drugs_alcohol"}),
    "Possession of weapons": ("harassment_group", {"harassment_group", "followed"}),
    "Shoplifting": ("no_cctv", {"no_cctv", "other"}),
    "Other theft": ("no_cctv", {"no_cctv", "poor_lighting", "other"}),
    "Other crime": ("other", {"other", "run_down", "no_cctv"}),
    # A type police.uk might add: treated as other crime.
    "Something new": ("other", {"other", "run_down", "no_cctv"}),
}

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("west_mercia")]


def demo_reports() -> QuerySet[Report]:
    return Report.objects.filter(source="demo")


def fixture_rows() -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for path in sorted(FIXTURE_DIR.glob("*.csv")):
        with path.open(newline="") as f:
            rows += csv.DictReader(f)
    return rows


def write_csv(folder: Path, rows: list[dict[str, Any]], month: str = "2018-10") -> Path:
    """A police.uk street CSV of these rows (each a few columns; the rest are filled in)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{month}-west-mercia-street.csv"
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, HEADER)
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    "Month": month,
                    "Reported by": "West Mercia Police",
                    "Falls within": "West Mercia Police",
                    "Crime type": "Anti-social behaviour",
                    **row,
                }
            )
    return path


def at(point: tuple[float, float], **columns: str) -> dict[str, Any]:
    return {"Longitude": point[0], "Latitude": point[1], **columns}


def is_outside(row: dict[str, str]) -> bool:
    """The fixture's rows outside West Mercia, in Birmingham and Aylesbury Vale."""
    return row["LSOA name"].startswith(("Birmingham", "Aylesbury"))


def distances_from(point: tuple[float, float], source: str = "demo") -> list[float]:
    """Each demo report's distance from point, in ANALYSIS_SRID metres."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT ST_Distance(
                location_projected, ST_Transform(ST_SetSRID(ST_MakePoint(%s, %s), 4326), %s)
            )
            FROM reports_report WHERE source = %s
            """,
            [point[0], point[1], settings.ANALYSIS_SRID, source],
        )
        return [d for (d,) in cursor.fetchall()]


def test_it_makes_one_report_per_row_with_coordinates_inside_the_force_area(
    run: Callable[..., str],
) -> None:
    out = run("load_demo", data_dir=str(FIXTURE_DIR))

    assert demo_reports().count() == ROWS_INSIDE
    assert (
        f"Made {ROWS_INSIDE} demo reports from {ROWS_WITH_COORDINATES} police.uk rows with "
        f"coordinates ({ROWS_WITHOUT_COORDINATES} without were skipped); dropped "
        f"{ROWS_OUTSIDE} outside the force area" in out
    )
    # Every fixture row inside lies well within a local policing area.
    assert not demo_reports().filter(area__isnull=True).exists()
    assert set(demo_reports().values_list("area__kind", flat=True)) == {"lpa"}
    report = demo_reports().first()
    assert report is not None
    assert (report.description, report.description_redacted, report.text_state) == ("", "", "none")
    assert (report.body_digest, report.receipt_hash, report.app_version) == ("", "", "")


def test_every_point_lies_within_30_m_of_its_rows_map_point(run: Callable[..., str]) -> None:
    run("load_demo", data_dir=str(FIXTURE_DIR))

    rows = [r for r in fixture_rows() if r["Longitude"]]
    with connection.cursor() as cursor:
        # Each report against the map points of the rows with its street text.
        cursor.execute(
            """
            SELECT min(ST_Distance(
                       r.location_projected,
                       ST_Transform(ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326), %(srid)s)
                   )),
                   max(ST_Distance(ST_Transform(r.location, %(srid)s), r.location_projected))
            FROM reports_report r
            JOIN unnest(%(lons)s::float8[], %(lats)s::float8[], %(streets)s::text[])
                 AS s(lon, lat, street) ON s.street = r.street
            WHERE r.source = 'demo'
            GROUP BY r.id
            """,
            {
                "srid": settings.ANALYSIS_SRID,
                "lons": [float(r["Longitude"]) for r in rows],
                "lats": [float(r["Latitude"]) for r in rows],
                "streets": [r["Location"] for r in rows],
            },
        )
        found = cursor.fetchall()

    assert len(found) == ROWS_INSIDE
    assert max(d for d, _ in found) <= 30.0 + 1e-6
    # Moved, not left on the map point: the mean distance in a 30 m disc is 20 m.
    assert mean(d for d, _ in found) > 12
    # location and location_projected are the same point.
    assert max(same for _, same in found) < 0.01


def test_scaled_points_spread_evenly_over_the_30_m_disc(
    run: Callable[..., str], tmp_path: Path
) -> None:
    write_csv(tmp_path, [at(WORCESTER, Location="On or near Angel Street")])

    run("load_demo", data_dir=str(tmp_path), scale=2000)

    distances = distances_from(WORCESTER)
    assert len(distances) == 2000
    assert max(distances) <= 30.0 + 1e-6
    assert max(distances) > 29
    # Uniform in the disc: a quarter of the points within half the radius.
    assert 0.2 < sum(d < 15 for d in distances) / len(distances) < 0.3


def test_points_outside_the_force_area_are_dropped(run: Callable[..., str]) -> None:
    outside = [r for r in fixture_rows() if is_outside(r)]
    assert len(outside) == ROWS_OUTSIDE

    run("load_demo", data_dir=str(FIXTURE_DIR), scale=2000)

    assert demo_reports().count() == 2000
    for row in outside:
        point = (float(row["Longitude"]), float(row["Latitude"]))
        assert min(distances_from(point)) > 1000, row["LSOA name"]


def test_it_says_so_when_no_point_drawn_falls_inside(
    run: Callable[..., str], tmp_path: Path
) -> None:
    write_csv(tmp_path, [at(LONDON, Location="On or near Trafalgar Square")])

    with pytest.raises(CommandError, match="None of 10 points drawn fell inside the force area"):
        run("load_demo", data_dir=str(tmp_path), scale=10)
    out = run("load_demo", data_dir=str(tmp_path))

    assert "Made 0 demo reports" in out
    assert "dropped 1 outside the force area" in out
    assert not demo_reports().exists()


def test_reasons_and_severity_follow_the_crime_type(
    run: Callable[..., str], tmp_path: Path
) -> None:
    # One row per crime type at the same map point, told apart by their street text.
    write_csv(
        tmp_path,
        [at(WORCESTER, **{"Crime type": t, "Location": t}) for t in EXPECTED_REASONS],
    )

    run("load_demo", data_dir=str(tmp_path), scale=6000)

    reports = list(demo_reports().values_list("street", "feeling", "reasons", "severity"))
    for crime_type, (first, allowed) in EXPECTED_REASONS.items():
        unsafe = [r for s, f, r, _ in reports if s == crime_type and f == "unsafe"]
        assert len(unsafe) > 300, crime_type
        assert all(1 <= len(r) <= 3 and set(r) <= allowed for r in unsafe), crime_type
        assert all(len(set(r)) == len(r) for r in unsafe), crime_type
        assert Counter(r[0] for r in unsafe).most_common(1)[0][0] == first, crime_type
        assert {code for r in unsafe for code in r} == allowed, crime_type
    assert all(set(r) <= set(REASON_CODES) for _, _, r, _ in reports)

    def mean_severity(crime_type: str) -> float:
        return mean(v for s, _, _, v in reports if s == crime_type and v is not None)

    assert mean_severity("Violence and sexual offences") > mean_severity("Shoplifting") + 0.5
    assert mean_severity("Robbery") > mean_severity("Anti-social behaviour") + 0.5
    assert {v for _, _, _, v in reports} == {None, 1, 2, 3}


def test_a_few_reports_are_safe_with_no_reasons(run: Callable[..., str]) -> None:
    run("load_demo", data_dir=str(FIXTURE_DIR), scale=5000)

    safe = demo_reports().filter(feeling="safe")
    assert 0.015 < safe.count() / 5000 < 0.045
    assert all(
        reasons == [] and severity is None
        for reasons, severity in safe.values_list("reasons", "severity")
    )


def test_felt_at_lies_in_the_rows_month_mostly_in_the_evening_and_at_night(
    run: Callable[..., str], tmp_path: Path
) -> None:
    # October 2018: the clocks went back on the 28th.
    write_csv(tmp_path, [at(WORCESTER, Location="On or near Angel Street")], month="2018-10")

    run("load_demo", data_dir=str(tmp_path), scale=5000)

    felt = list(demo_reports().values_list("felt_at", flat=True))
    known = [f.astimezone(LONDON_TZ) for f in felt if f is not None]
    assert 0.07 < 1 - len(known) / len(felt) < 0.13
    assert {(f.year, f.month) for f in known} == {(2018, 10)}
    assert min(f.day for f in known) == 1
    assert max(f.day for f in known) == 31
    hours = Counter(f.hour for f in known)
    evening_and_night = sum(n for h, n in hours.items() if h >= 19 or h < 7)
    assert evening_and_night / len(known) > 0.6
    mornings = sum(hours[h] for h in (7, 8, 9)) / 3
    evenings = sum(hours[h] for h in (20, 21, 22)) / 3
    assert evenings > 4 * mornings


def test_felt_at_follows_each_rows_month(run: Callable[..., str], tmp_path: Path) -> None:
    write_csv(tmp_path, [at(WORCESTER, Location="Worcester in November")], month="2018-11")
    write_csv(tmp_path, [at(WORCESTER, Location="Worcester in February")], month="2019-02")

    run("load_demo", data_dir=str(tmp_path), scale=1000)

    months = {
        (street, felt.astimezone(LONDON_TZ).strftime("%Y-%m"))
        for street, felt in demo_reports().values_list("street", "felt_at")
        if felt is not None
    }
    assert months == {("Worcester in November", "2018-11"), ("Worcester in February", "2019-02")}


def test_received_at_is_on_the_hour_within_two_days_of_felt_at(run: Callable[..., str]) -> None:
    run("load_demo", data_dir=str(FIXTURE_DIR), scale=3000)

    for felt, received in demo_reports().values_list("felt_at", "received_at"):
        assert (received.minute, received.second, received.microsecond) == (0, 0, 0)
        if felt is not None:
            assert felt.replace(minute=0, second=0, microsecond=0) <= received
            assert received <= felt + timedelta(days=2)
    # Unknown times are reported within the rows' months too.
    unknown = demo_reports().filter(felt_at=None).values_list("received_at", flat=True)
    assert {r.astimezone(LONDON_TZ).strftime("%Y-%m") for r in unknown} <= {
        "2018-10",
        "2018-11",
        "2018-12",
    }


def test_nothing_is_felt_or_received_in_the_future(run: Callable[..., str], tmp_path: Path) -> None:
    now = timezone.now()
    write_csv(tmp_path, [at(WORCESTER)], month=now.astimezone(LONDON_TZ).strftime("%Y-%m"))

    run("load_demo", data_dir=str(tmp_path), scale=500)

    after = timezone.now()
    for felt, received in demo_reports().values_list("felt_at", "received_at"):
        assert received <= after
        assert felt is None or felt <= after


def test_the_rows_street_text_is_stored(run: Callable[..., str]) -> None:
    run("load_demo", data_dir=str(FIXTURE_DIR))

    inside = {r["Location"] for r in fixture_rows() if r["Longitude"] and not is_outside(r)}
    assert set(demo_reports().values_list("street", flat=True)) == inside
    assert demo_reports().filter(street="On or near Kidderminster Road").count() == 7


def test_a_missing_street_is_stored_empty_and_a_long_one_cut(
    run: Callable[..., str], tmp_path: Path
) -> None:
    write_csv(
        tmp_path, [at(WORCESTER, Location=""), at(WORCESTER, Location="On or near " + "x" * 200)]
    )

    run("load_demo", data_dir=str(tmp_path))

    assert sorted(demo_reports().values_list("street", flat=True)) == [
        "",
        "On or near " + "x" * 109,
    ]


def test_scale_makes_exactly_that_many_from_the_rows_inside(run: Callable[..., str]) -> None:
    out = run("load_demo", data_dir=str(FIXTURE_DIR), scale=1234)

    assert demo_reports().count() == 1234
    assert "Made 1,234 demo reports" in out


def test_scale_is_exact_across_chunks_and_reports_progress() -> None:
    calls: list[tuple[int, int]] = []

    result = demo_load(
        data_dir=FIXTURE_DIR,
        scale=1000,
        chunk_size=128,
        progress=lambda made, wanted: calls.append((made, wanted)),
    )

    assert result.made == demo_reports().count() == 1000
    assert result.dropped > 0
    # 8 chunks of 128 or fewer, then small ones for the points dropped.
    assert len(calls) > 8
    assert calls[-1] == (1000, 1000)
    assert [made for made, _ in calls] == sorted(made for made, _ in calls)


def test_progress_without_scale_counts_towards_the_rows_less_those_dropped() -> None:
    calls: list[tuple[int, int]] = []

    demo_load(data_dir=FIXTURE_DIR, chunk_size=100, progress=lambda *call: calls.append(call))

    assert len(calls) == 4
    assert calls[-1] == (ROWS_INSIDE, ROWS_INSIDE)


def test_the_same_seed_makes_the_same_reports(run: Callable[..., str]) -> None:
    def load(seed: int) -> list[tuple[Any, ...]]:
        run("load_demo", data_dir=str(FIXTURE_DIR), scale=300, seed=seed)
        fields = ("id", "location", "reasons", "severity", "felt_at", "received_at", "street")
        return sorted((r[0], r[1].wkt, *r[2:]) for r in demo_reports().values_list(*fields))

    first = load(7)

    assert load(7) == first
    assert load(8) != first


def test_a_rerun_replaces_the_demo_reports_and_keeps_the_apps(
    run: Callable[..., str], reporter: Any
) -> None:
    response = reporter.post("/api/v1/reports", a_report(), format="json")
    assert response.status_code == 201, response.content
    run("load_demo", data_dir=str(FIXTURE_DIR), seed=1)

    run("load_demo", data_dir=str(FIXTURE_DIR), seed=2)

    assert demo_reports().count() == ROWS_INSIDE
    assert Report.objects.filter(source="app").count() == 1
    assert Report.objects.count() == ROWS_INSIDE + 1


def test_a_rerun_deletes_moderation_decisions_on_demo_reports(
    run: Callable[..., str], moderator: Any
) -> None:
    run("load_demo", data_dir=str(FIXTURE_DIR), scale=10)
    report = demo_reports().first()
    assert report is not None
    ModerationDecision.objects.create(report=report, moderator=moderator, decision="approved")

    run("load_demo", data_dir=str(FIXTURE_DIR), scale=10)

    assert not ModerationDecision.objects.exists()
    assert demo_reports().count() == 10


def test_append_adds_with_another_seed_and_refuses_the_same_one(run: Callable[..., str]) -> None:
    run("load_demo", data_dir=str(FIXTURE_DIR), scale=100, seed=1)
    run("load_demo", data_dir=str(FIXTURE_DIR), scale=100, seed=2, append=True)
    assert demo_reports().count() == 200

    with pytest.raises(CommandError, match="seed 1 was loaded before"):
        run("load_demo", data_dir=str(FIXTURE_DIR), scale=100, seed=1, append=True)
    assert demo_reports().count() == 200


def test_if_missing_does_nothing_when_there_are_demo_reports(
    run: Callable[..., str], django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    run("load_demo", data_dir=str(FIXTURE_DIR), scale=50)
    before = set(demo_reports().values_list("id", flat=True))

    # 1. Is there a demo report? Nothing more.
    with django_assert_num_queries(1):
        out = run("load_demo", data_dir=str(FIXTURE_DIR), if_missing=True)

    assert "already loaded" in out
    assert set(demo_reports().values_list("id", flat=True)) == before


def test_if_missing_loads_when_there_are_only_app_reports(
    run: Callable[..., str], reporter: Any
) -> None:
    reporter.post("/api/v1/reports", a_report(), format="json")

    run("load_demo", data_dir=str(FIXTURE_DIR), if_missing=True)

    assert demo_reports().count() == ROWS_INSIDE


def test_it_reads_the_shared_data_layout(run: Callable[..., str], tmp_path: Path) -> None:
    write_csv(tmp_path / "police-uk" / "west-mercia", [at(WORCESTER)])

    run("load_demo", data_dir=str(tmp_path))

    assert demo_reports().count() == 1


def test_a_large_load_rebuilds_the_indexes_and_foreign_keys_it_dropped(
    run: Callable[..., str], monkeypatch: pytest.MonkeyPatch, reporter: Any
) -> None:
    reporter.post("/api/v1/reports", a_report(), format="json")

    def schema() -> tuple[list[Any], list[Any]]:
        with connection.cursor() as cursor:
            cursor.execute(demo.SECONDARY_INDEXES_SQL)
            indexes = cursor.fetchall()
            cursor.execute(demo.REFERENCING_FOREIGN_KEYS_SQL)
            return indexes, cursor.fetchall()

    before = schema()
    assert len(before[0]) >= 5
    assert [table for table, _, _ in before[1]] == ["reports_moderationdecision"]
    monkeypatch.setattr(demo, "BULK_MIN_REPORTS", 0)

    run("load_demo", data_dir=str(FIXTURE_DIR))
    run("load_demo", data_dir=str(FIXTURE_DIR))

    assert demo_reports().count() == ROWS_INSIDE
    assert Report.objects.count() == ROWS_INSIDE + 1
    assert schema() == before


def test_a_data_dir_without_csvs_is_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "load_demo", "--data-dir", str(tmp_path)],
        cwd=settings.BASE_DIR,
        env=os.environ,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert f"CommandError: No police.uk street CSV (*-street.csv) in {tmp_path}" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_csv_without_a_needed_column_is_named(run: Callable[..., str], tmp_path: Path) -> None:
    (tmp_path / "2018-10-west-mercia-street.csv").write_text("Month,Longitude,Latitude\n")

    with pytest.raises(CommandError, match="has no column 'Location', 'Crime type'"):
        run("load_demo", data_dir=str(tmp_path))


def test_a_file_that_is_not_text_is_named(run: Callable[..., str], tmp_path: Path) -> None:
    path = tmp_path / "2018-10-west-mercia-street.csv"
    path.write_bytes(",".join(HEADER).encode() + b"\n\xff\xfe\x00\x81\n")

    with pytest.raises(CommandError, match=re.escape(f"{path} cannot be read as a police.uk CSV")):
        run("load_demo", data_dir=str(tmp_path))


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"Longitude": "west", "Latitude": "52.1"}, "line 2: the coordinates are not numbers"),
        ({"Longitude": "-2.2", "Latitude": "152.1"}, "line 2: the coordinates are out of range"),
        (at(WORCESTER, Month="October"), "line 2: the Month 'October' is not YYYY-MM"),
    ],
)
def test_a_bad_row_is_named_by_file_and_line(
    run: Callable[..., str], tmp_path: Path, row: dict[str, Any], message: str
) -> None:
    write_csv(tmp_path, [row])

    with pytest.raises(CommandError, match=message):
        run("load_demo", data_dir=str(tmp_path))
    assert not demo_reports().exists()


def test_it_asks_for_the_boundaries_first(run: Callable[..., str]) -> None:
    Area.objects.all().delete()

    with pytest.raises(CommandError, match=re.escape("run manage.py load_west_mercia first")):
        run("load_demo", data_dir=str(FIXTURE_DIR))


def test_scale_must_be_a_positive_whole_number(run: Callable[..., str]) -> None:
    with pytest.raises(CommandError, match="--scale: 0 is not at least 1"):
        run("load_demo", "--scale", "0", data_dir=str(FIXTURE_DIR))
    with pytest.raises(CommandError, match="'many' is not a whole number"):
        run("load_demo", "--scale", "many", data_dir=str(FIXTURE_DIR))

    run("load_demo", "--scale", "3", data_dir=str(FIXTURE_DIR))
    assert demo_reports().count() == 3


def test_felt_at_is_drawn_in_local_time(run: Callable[..., str], tmp_path: Path) -> None:
    # July is on British Summer Time: a local time stored as if it were UTC would put the
    # late evening of 31 July into August.
    write_csv(tmp_path, [at(WORCESTER)], month="2018-07")

    run("load_demo", data_dir=str(tmp_path), scale=5000)

    felt = [
        f.astimezone(LONDON_TZ)
        for f in demo_reports().values_list("felt_at", flat=True)
        if f is not None
    ]
    assert {(f.year, f.month) for f in felt} == {(2018, 7)}
    assert any((f.day, f.hour) == (31, 23) for f in felt)


# The Sheffield region: South Yorkshire's force area, Sheffield's policing area, its council
# with a planner, its cameras, and demo reports around one month of its street crime, from
# the small copy in tests/fixtures/sheffield (see its README).

SHEFFIELD_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "sheffield"
SHEFFIELD_CRIMES = SHEFFIELD_DIR / "police-uk" / "sheffield" / "2026-04-sheffield-street.geojson"
# 287 crimes: 279 inside Sheffield, 5 in Rotherham (South Yorkshire, but no policing area of
# the demo) and 3 in Derbyshire.
SHEFFIELD_ROWS = 287
SHEFFIELD_INSIDE = 279
# Sheffield city centre: the traffic camera at Sheaf Street / Howard Street.
SHEAF_STREET = (-1.464443569751507, 53.37767708782339)
# Police.uk map points from the fixture: "On or near Edale Road" in Rotherham, and "On or
# near Summerley Lower Road" in Derbyshire (North East Derbyshire, outside South Yorkshire).
ROTHERHAM = (-1.390997, 53.428519)
DERBYSHIRE = (-1.441745, 53.30439)


def sheffield_reports() -> QuerySet[Report]:
    return Report.objects.filter(source="demo-sheffield")


def sheffield_copy(folder: Path, crimes: list[dict[str, Any]]) -> Path:
    """The fixture's boundaries and cameras with other crimes, as a data dir."""
    for part in ("boundaries", "assets"):
        shutil.copytree(SHEFFIELD_DIR / part, folder / part)
    target = folder / "police-uk" / "sheffield" / "2026-04-sheffield-street.geojson"
    target.parent.mkdir(parents=True)
    target.write_text(json.dumps({"type": "FeatureCollection", "features": crimes}))
    return folder


def crime(point: tuple[float, float], **properties: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": list(point)},
        "properties": {"category": "violent crime", "street": "", "month": "2026-04", **properties},
    }


def test_the_sheffield_region_loads_its_areas_council_planner_cameras_and_reports(
    run: Callable[..., str],
) -> None:
    out = run("load_demo", region="sheffield", data_dir=str(SHEFFIELD_DIR))

    force = Area.objects.get(code="E23000011")
    sheffield = Area.objects.get(code="sy-sheffield")
    assert (force.name, force.kind, force.parent) == ("South Yorkshire", "force", None)
    assert (sheffield.name, sheffield.kind, sheffield.parent) == ("Sheffield", "lpa", force)
    council = Organisation.objects.get(name="Sheffield City Council")
    assert list(council.areas.all()) == [sheffield]
    planner = User.objects.get(username="sheffield-planner")
    assert planner_organisation(planner) == council
    assert not planner.has_usable_password()
    cameras = Camera.objects.filter(organisation=council)
    assert cameras.count() == 20
    assert cameras.filter(kind="traffic").count() == 8
    assert cameras.get(label="Sheaf Street / Howard Street").kind == "traffic"
    # Notes " ": three cameras in Chapel Walk, told apart by their positions.
    assert (
        list(cameras.filter(label="Chapel Walk").values_list("kind", flat=True))
        == ["public_space"] * 3
    )
    assert sheffield_reports().count() == SHEFFIELD_INSIDE
    assert set(sheffield_reports().values_list("area__code", flat=True)) == {"sy-sheffield"}
    assert (
        f"Made {SHEFFIELD_INSIDE} demo reports from {SHEFFIELD_ROWS} police.uk rows with "
        "coordinates (0 without were skipped); dropped 8 outside Sheffield's local policing "
        "area" in out
    )
    assert "Cameras: created 20, updated 0, unchanged 0, skipped 0." in out
    assert "sheffield-planner has no password" in out


def test_the_sheffield_planner_sees_sheffield_and_its_reports(
    run: Callable[..., str], force_planner: Any
) -> None:
    run("load_demo", region="sheffield", data_dir=str(SHEFFIELD_DIR))
    planner = User.objects.get(username="sheffield-planner")

    areas = client_for(planner).get("/api/v1/areas")
    points = client_for(planner).get("/api/v1/reports")
    west_mercia = client_for(force_planner).get("/api/v1/areas")
    west_mercia_points = client_for(force_planner).get("/api/v1/reports")

    assert [a["code"] for a in areas.json()] == ["sy-sheffield"]
    assert points.status_code == 200, points.content
    assert points.json()["count"] == SHEFFIELD_INSIDE
    assert "sy-sheffield" not in {a["code"] for a in west_mercia.json()}
    assert west_mercia_points.json()["count"] == 0


def test_sheffield_crimes_are_turned_into_reports_with_reasons_of_their_category(
    run: Callable[..., str], tmp_path: Path
) -> None:
    # One crime of each category (and one police.uk may add) at one map point, told apart
    # by their street text.
    categories = {
        "violent crime": "Violence and sexual offences",
        "anti social behaviour": "Anti-social behaviour",
        "criminal-damage-arson": "Criminal damage and arson",
        "vehicle crime": "Vehicle crime",
        "shoplifting": "Shoplifting",
        "robbery": "Robbery",
        "something new": "Something new",
    }
    crimes = [crime(SHEAF_STREET, category=c, street=c) for c in categories]

    run("load_demo", region="sheffield", data_dir=str(sheffield_copy(tmp_path, crimes)), scale=3000)

    reports = list(sheffield_reports().values_list("street", "feeling", "reasons"))
    assert len(reports) == 3000
    for category, crime_type in categories.items():
        first, allowed = EXPECTED_REASONS[crime_type]
        unsafe = [r for s, f, r in reports if s == category and f == "unsafe"]
        assert len(unsafe) > 300, category
        assert all(set(r) <= allowed for r in unsafe), category
        assert Counter(r[0] for r in unsafe).most_common(1)[0][0] == first, category


def test_sheffield_reports_are_felt_through_april_mostly_in_the_evening_and_at_night(
    run: Callable[..., str],
) -> None:
    run("load_demo", region="sheffield", data_dir=str(SHEFFIELD_DIR), scale=4000)

    felt = list(sheffield_reports().values_list("felt_at", flat=True))
    known = [f.astimezone(LONDON_TZ) for f in felt if f is not None]
    assert 0.07 < 1 - len(known) / len(felt) < 0.13
    assert {(f.year, f.month) for f in known} == {(2026, 4)}
    assert {f.day for f in known} == set(range(1, 31))
    evening_and_night = sum(f.hour >= 19 or f.hour < 7 for f in known)
    assert evening_and_night / len(known) > 0.6
    # Within 30 m of a fixture crime in Sheffield, and never in Rotherham or Derbyshire.
    assert min(distances_from(ROTHERHAM, source="demo-sheffield")) > 1000
    assert min(distances_from(DERBYSHIRE, source="demo-sheffield")) > 1000


def test_west_mercia_and_sheffield_load_beside_each_other(run: Callable[..., str]) -> None:
    # The same (default) seed in both: the regions draw different report ids.
    run("load_demo", data_dir=str(FIXTURE_DIR))
    run("load_demo", region="sheffield", data_dir=str(SHEFFIELD_DIR))

    assert demo_reports().count() == ROWS_INSIDE
    assert sheffield_reports().count() == SHEFFIELD_INSIDE

    # Each region replaces only its own reports.
    run("load_demo", data_dir=str(FIXTURE_DIR), seed=2)
    run("load_demo", region="sheffield", data_dir=str(SHEFFIELD_DIR), seed=2)

    assert demo_reports().count() == ROWS_INSIDE
    assert sheffield_reports().count() == SHEFFIELD_INSIDE
    assert Report.objects.count() == ROWS_INSIDE + SHEFFIELD_INSIDE
    assert {
        code[:3] for code in demo_reports().values_list("area__code", flat=True).distinct()
    } == {"wm-"}


def test_a_second_load_updates_the_region_and_keeps_the_planners_password(
    run: Callable[..., str],
) -> None:
    run("load_demo", region="sheffield", data_dir=str(SHEFFIELD_DIR))
    planner = User.objects.get(username="sheffield-planner")
    planner.set_password("a-long-enough-planner-password")
    planner.save()
    camera_ids = set(Camera.objects.values_list("pk", flat=True))

    out = run("load_demo", region="sheffield", data_dir=str(SHEFFIELD_DIR))

    assert "Updated South Yorkshire (Police force area) [E23000011]" in out
    assert "Cameras: created 0, updated 0, unchanged 20, skipped 0." in out
    assert "has no password" not in out
    assert set(Camera.objects.values_list("pk", flat=True)) == camera_ids
    assert Organisation.objects.filter(name="Sheffield City Council").count() == 1
    assert Area.objects.filter(code__in=["E23000011", "sy-sheffield"]).count() == 2
    assert sheffield_reports().count() == SHEFFIELD_INSIDE
    planner.refresh_from_db()
    assert planner.check_password("a-long-enough-planner-password")


def test_if_missing_looks_at_the_regions_own_reports(
    run: Callable[..., str], django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    run("load_demo", region="sheffield", data_dir=str(SHEFFIELD_DIR), scale=20)

    # 1. Is there a Sheffield demo report? Nothing more.
    with django_assert_num_queries(1):
        out = run("load_demo", region="sheffield", data_dir=str(SHEFFIELD_DIR), if_missing=True)
    west_mercia = run("load_demo", data_dir=str(FIXTURE_DIR), if_missing=True)

    assert "already loaded" in out
    assert sheffield_reports().count() == 20
    assert "already loaded" not in west_mercia
    assert demo_reports().count() == ROWS_INSIDE


def test_a_point_in_sheffield_is_accepted_once_the_region_is_loaded(
    run: Callable[..., str], reporter: Any
) -> None:
    body = a_report(location={"type": "Point", "coordinates": list(SHEAF_STREET)})
    refused = reporter.post("/api/v1/reports", body, format="json")
    assert refused.status_code == 400
    assert "outside the service area (West Mercia)" in refused.json()["errors"]["location"][0]

    run("load_demo", region="sheffield", data_dir=str(SHEFFIELD_DIR), scale=10)
    accepted = reporter.post("/api/v1/reports", body, format="json")
    in_rotherham = reporter.post(
        "/api/v1/reports",
        a_report(location={"type": "Point", "coordinates": list(ROTHERHAM)}),
        format="json",
    )
    in_derbyshire = reporter.post(
        "/api/v1/reports",
        a_report(location={"type": "Point", "coordinates": list(DERBYSHIRE)}),
        format="json",
    )

    assert accepted.status_code == 201, accepted.content
    assert accepted.json()["area"]["code"] == "sy-sheffield"
    stored = Report.objects.get(id=body["id"])
    assert stored.area is not None and stored.area.code == "sy-sheffield"
    # South Yorkshire is in the service area, beyond Sheffield's policing area too.
    assert in_rotherham.status_code == 201, in_rotherham.content
    assert in_rotherham.json()["area"] is None
    assert in_derbyshire.status_code == 400
    assert (
        "outside the service area (South Yorkshire and West Mercia)"
        in (in_derbyshire.json()["errors"]["location"][0])
    )


def test_the_service_area_is_both_force_areas(run: Callable[..., str]) -> None:
    run("load_demo", region="sheffield", data_dir=str(SHEFFIELD_DIR), scale=10)

    outline = service_area_outline()
    located = locate_points([WORCESTER, SHEAF_STREET, ROTHERHAM, DERBYSHIRE, LONDON])

    assert outline is not None
    assert outline["name"] == "South Yorkshire and West Mercia"
    assert outline["polygon"]["type"] == "MultiPolygon"
    outline_shape = GEOSGeometry(json.dumps(outline["polygon"]), srid=4326)
    assert outline_shape.contains(Point(*WORCESTER, srid=4326))
    assert outline_shape.contains(Point(*SHEAF_STREET, srid=4326))
    assert not outline_shape.contains(Point(*DERBYSHIRE, srid=4326))
    west, south, east, north = outline["bbox"]
    assert west < WORCESTER[0] < SHEAF_STREET[0] < east
    assert south < WORCESTER[1] < SHEAF_STREET[1] < north
    assert [(p.in_service_area, p.area_code) for p in located] == [
        (True, "wm-south-worcestershire"),
        (True, "sy-sheffield"),
        (True, None),
        (False, None),
        (False, None),
    ]


def test_the_sheffield_files_missing_are_named(run: Callable[..., str], tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=r"None of these files exists: .*police_force_areas"):
        run("load_demo", region="sheffield", data_dir=str(tmp_path))
    shutil.copytree(SHEFFIELD_DIR / "boundaries", tmp_path / "boundaries")
    shutil.copytree(SHEFFIELD_DIR / "assets", tmp_path / "assets")

    with pytest.raises(CommandError, match=r"No police.uk street GeoJSON \(\*-street.geojson\)"):
        run("load_demo", region="sheffield", data_dir=str(tmp_path))
    # Nothing of the region is kept from a load that failed.
    assert not Area.objects.filter(code="E23000011").exists()
    assert not Organisation.objects.exists()


def test_a_bad_sheffield_crime_is_named_by_file_and_feature(
    run: Callable[..., str], tmp_path: Path
) -> None:
    crimes = [crime(SHEAF_STREET), crime(SHEAF_STREET, month="April")]
    data_dir = sheffield_copy(tmp_path, crimes)

    with pytest.raises(CommandError, match="feature 2: the month 'April' is not YYYY-MM"):
        run("load_demo", region="sheffield", data_dir=str(data_dir))
    assert not sheffield_reports().exists()
