"""Planner exports: POST /api/v1/exports, its status, its download, and the worker behind it.

Real PostGIS, a real Celery worker on the tests' Redis, and GDAL's own command-line tools
reading the GeoPackages back.
"""

import csv
import io
import json
import os
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries
from pytest_django.fixtures import Settings as SettingsWrapper
from rest_framework.test import APIClient

from geo.exports import export_run, exports_purge_expired
from geo.hotspots.rebuild import hotspots_rebuild
from geo.models import Area, Export, HotspotCell, HotspotGeneration, Organisation, PlannerProfile
from reports.models import Report
from reports.reasons import REASON_CODES
from tests.cast import PLANNER_PASSWORD, client_for, planner_make
from tests.fixtures.points import HEREFORD, SHREWSBURY, WORCESTER
from tests.geo.hotspot_factories import prime_study_cache, reports_around, use_coarse_grids
from tests.support.celery import progress_recorded

pytestmark = pytest.mark.usefixtures("west_mercia")
# A rebuild's own connections, and the worker's, must see the rows: these tests commit them.
committed = pytest.mark.django_db(transaction=True)

REPORT_COLUMNS = [
    "received_at",
    "feeling",
    "severity",
    "reasons",
    "felt_band",
    "felt_month",
    "area",
    "text",
]
PLACE_COLUMNS = ["label", "area", "report_count", "top_reasons", "night_share", "score"]
HOTSPOT_COLUMNS = [
    "resolution",
    "i",
    "j",
    "area",
    "unsafe",
    "safe",
    "reports",
    *(f"reason_{code}" for code in REASON_CODES),
    "band_day",
    "band_evening",
    "band_night",
    "band_unknown",
    "score",
    "gi_z",
    "gi_p",
    "gi_class",
    "trend",
    "trend_tau",
    "trend_p",
]


@pytest.fixture(autouse=True)
def exports_dir(settings: SettingsWrapper, tmp_path: Path) -> Path:
    settings.EXPORTS_DIR = tmp_path / "exports"
    return settings.EXPORTS_DIR


def ask(client: APIClient, layer: str, format: str, **filters: str) -> Any:
    return client.post(
        "/api/v1/exports", {"layer": layer, "format": format, "filters": filters}, format="json"
    )


def fetched(client: APIClient, body: dict[str, Any]) -> bytes:
    response = client.get(body["download_url"])
    assert response.status_code == 200, response.content
    return streamed(response)


def streamed(response: Any) -> bytes:
    """The body of a file response, which streams it."""
    return b"".join(response.streaming_content)


def exported(client: APIClient, layer: str, format: str, **filters: str) -> bytes:
    """The file of a small export, written in the request."""
    response = ask(client, layer, format, **filters)
    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "ready"
    return fetched(client, response.json())


def csv_rows(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8"))))


def geojson_features(content: bytes) -> list[dict[str, Any]]:
    collection = json.loads(content)
    assert collection["type"] == "FeatureCollection"
    features: list[dict[str, Any]] = collection["features"]
    return features


class GeoPackage:
    """A GeoPackage as GDAL reads it: ``ogrinfo`` for the layer, ``ogr2ogr`` for the rows."""

    def __init__(self, content: bytes, directory: Path) -> None:
        self.path = directory / "read-back.gpkg"
        self.path.write_bytes(content)
        self.info = run(["ogrinfo", "-ro", "-so", "-al", str(self.path)])
        self.rows = csv_rows(
            run(
                ["ogr2ogr", "-f", "CSV", "/vsistdout/", str(self.path), "-lco", "GEOMETRY=AS_WKT"]
            ).encode()
        )

    def line(self, prefix: str) -> str:
        [found] = [line for line in self.info.splitlines() if line.startswith(prefix)]
        return found.removeprefix(prefix).strip()

    @property
    def feature_count(self) -> int:
        return int(self.line("Feature Count:"))

    @property
    def fields(self) -> dict[str, str]:
        """Field names and GDAL types, in order, after the geometry column's line."""
        lines = self.info.splitlines()
        start = next(n for n, line in enumerate(lines) if line.startswith("Geometry Column"))
        return {
            line.split(":")[0]: line.split(":")[1].split("(")[0].strip()
            for line in lines[start + 1 :]
        }


def run(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=60)
    return done.stdout


def area_counts(rows: list[dict[str, Any]], *, key: str = "area") -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row[key]] = counts.get(row[key], 0) + 1
    return counts


# --------------------------------------------------------------------------------------
# Report points, in each format
# --------------------------------------------------------------------------------------


@pytest.fixture
def two_towns_reports(db: None) -> None:
    """Five reports in Shrewsbury (Shropshire), three in Worcester (South Worcestershire)."""
    reports_around(SHREWSBURY, count=5, spread_m=50, reasons=("poor_lighting", "isolated"))
    reports_around(WORCESTER, count=3, spread_m=50, reasons=("no_cctv",), severity=None)


@pytest.mark.django_db
def test_a_report_csv_holds_the_planners_reports_and_none_from_outside_their_scope(
    shropshire_planner: User, force_planner: User, two_towns_reports: None
) -> None:
    rows = csv_rows(exported(client_for(shropshire_planner), "reports", "csv"))

    assert list(rows[0]) == [*REPORT_COLUMNS, "lon", "lat"]
    assert area_counts(rows) == {"wm-shropshire": 5}
    row = rows[0]
    assert row["reasons"] == "poor_lighting,isolated"
    assert (row["feeling"], row["severity"], row["felt_band"], row["text"]) == (
        "unsafe",
        "2",
        "unknown",
        "",
    )
    assert abs(float(row["lon"]) - SHREWSBURY[0]) < 0.001
    assert abs(float(row["lat"]) - SHREWSBURY[1]) < 0.001

    everything = csv_rows(exported(client_for(force_planner), "reports", "csv"))

    assert area_counts(everything) == {"wm-shropshire": 5, "wm-south-worcestershire": 3}
    assert {row["severity"] for row in everything if row["area"] != "wm-shropshire"} == {""}


@pytest.mark.django_db
def test_a_report_geojson_is_a_feature_collection_of_points_with_reasons_as_lists(
    shropshire_planner: User, force_planner: User, two_towns_reports: None
) -> None:
    features = geojson_features(exported(client_for(shropshire_planner), "reports", "geojson"))

    assert len(features) == 5
    feature = features[0]
    assert feature["geometry"]["type"] == "Point"
    lon, lat = feature["geometry"]["coordinates"]
    assert abs(lon - SHREWSBURY[0]) < 0.001 and abs(lat - SHREWSBURY[1]) < 0.001
    assert list(feature["properties"]) == REPORT_COLUMNS
    assert feature["properties"]["reasons"] == ["poor_lighting", "isolated"]
    assert feature["properties"]["area"] == "wm-shropshire"

    everything = geojson_features(exported(client_for(force_planner), "reports", "geojson"))

    assert area_counts([f["properties"] for f in everything]) == {
        "wm-shropshire": 5,
        "wm-south-worcestershire": 3,
    }


@pytest.mark.django_db
def test_a_report_geopackage_opens_in_gdal_with_typed_fields_in_wgs84(
    shropshire_planner: User, force_planner: User, two_towns_reports: None, tmp_path: Path
) -> None:
    gpkg = GeoPackage(exported(client_for(shropshire_planner), "reports", "gpkg"), tmp_path)

    assert gpkg.line("Layer name:") == "reports"
    assert gpkg.line("Geometry:") == "Point"
    assert gpkg.feature_count == 5
    assert 'ID["EPSG",4326]' in gpkg.info
    assert gpkg.fields == {
        "received_at": "DateTime",
        "feeling": "String",
        "severity": "Integer",
        "reasons": "String",
        "felt_band": "String",
        "felt_month": "String",
        "area": "String",
        "text": "String",
    }
    assert area_counts(gpkg.rows) == {"wm-shropshire": 5}
    assert {row["reasons"] for row in gpkg.rows} == {"poor_lighting,isolated"}
    assert all(row["WKT"].startswith("POINT (-2.75") for row in gpkg.rows)

    everything = GeoPackage(exported(client_for(force_planner), "reports", "gpkg"), tmp_path)

    assert area_counts(everything.rows) == {"wm-shropshire": 5, "wm-south-worcestershire": 3}


@pytest.mark.django_db
def test_an_empty_geopackage_still_has_the_layers_fields(
    shropshire_planner: User, tmp_path: Path
) -> None:
    gpkg = GeoPackage(exported(client_for(shropshire_planner), "reports", "gpkg"), tmp_path)

    assert gpkg.feature_count == 0
    assert list(gpkg.fields) == REPORT_COLUMNS


@pytest.mark.django_db
def test_the_layer_filters_choose_the_reports(force_planner: User, two_towns_reports: None) -> None:
    client = client_for(force_planner)

    by_reason = csv_rows(exported(client, "reports", "csv", reasons="no_cctv,followed"))
    by_area = csv_rows(exported(client, "reports", "csv", area="wm-shropshire"))
    by_box = csv_rows(
        exported(client, "reports", "csv", in_bbox="-2.3,52.1,-2.1,52.3", time_band="unknown")
    )

    assert area_counts(by_reason) == {"wm-south-worcestershire": 3}
    assert area_counts(by_area) == {"wm-shropshire": 5}
    assert area_counts(by_box) == {"wm-south-worcestershire": 3}


@pytest.mark.django_db
def test_only_approved_text_is_exported_and_only_redacted(
    shropshire_planner: User, tmp_path: Path
) -> None:
    pending, rejected, approved, without = reports_around(SHREWSBURY, count=4, spread_m=30)
    Report.objects.filter(pk=pending).update(
        text_state="pending", description="pending text 07700 900111"
    )
    Report.objects.filter(pk=rejected).update(
        text_state="rejected",
        description="rejected text 07700 900222",
        description_redacted="rejected text [phone number]",
    )
    Report.objects.filter(pk=approved).update(
        text_state="approved",
        description="=dark alley, call 07700 900333",
        description_redacted="=dark alley, call [phone number]",
    )
    client = client_for(shropshire_planner)

    files = {format: exported(client, "reports", format) for format in ("csv", "geojson", "gpkg")}

    for format, content in files.items():
        for unseen in (b"pending text", b"rejected text", b"07700"):
            assert unseen not in content, format
        assert b"dark alley, call [phone number]" in content, format
    texts = {row["text"] for row in csv_rows(files["csv"])}
    # A spreadsheet would run text starting with "=" as a formula.
    assert texts == {"", "'=dark alley, call [phone number]"}
    features = geojson_features(files["geojson"])
    assert {f["properties"]["text"] for f in features} == {"", "=dark alley, call [phone number]"}
    gpkg = GeoPackage(files["gpkg"], tmp_path)
    assert {row["text"] for row in gpkg.rows} == {"", "=dark alley, call [phone number]"}
    assert without


# --------------------------------------------------------------------------------------
# Hotspots and places, from a live generation
# --------------------------------------------------------------------------------------


@pytest.fixture
def rebuilt(settings: SettingsWrapper) -> HotspotGeneration:
    """A dense cluster in Shrewsbury and one in Worcester (a place each), and a few in
    Hereford that make no place; rebuilt once."""
    use_coarse_grids(settings)
    prime_study_cache()
    reports_around(SHREWSBURY, count=30, spread_m=25, seed=1)
    reports_around(WORCESTER, count=20, spread_m=25, seed=2, reasons=("isolated",))
    reports_around(HEREFORD, count=4, spread_m=300, seed=3)
    return hotspots_rebuild()


@committed
def test_hotspot_exports_hold_the_live_cells_in_scope_in_every_format(
    rebuilt: HotspotGeneration, shropshire_planner: User, force_planner: User, tmp_path: Path
) -> None:
    client = client_for(shropshire_planner)
    live = HotspotCell.objects.filter(generation=rebuilt, slice__isnull=True, resolution=200)
    shropshire = live.filter(area__code="wm-shropshire")
    expected = {(cell.i, cell.j): cell.reports for cell in shropshire}

    rows = csv_rows(exported(client, "hotspots", "csv", resolution="200"))
    features = geojson_features(exported(client, "hotspots", "geojson", resolution="200"))
    gpkg = GeoPackage(exported(client, "hotspots", "gpkg", resolution="200"), tmp_path)

    assert list(rows[0]) == [*HOTSPOT_COLUMNS, "wkt"]
    for found in (rows, [f["properties"] for f in features], gpkg.rows):
        assert {(int(r["i"]), int(r["j"])): int(r["reports"]) for r in found} == expected
        assert {r["area"] for r in found} == {"wm-shropshire"}
    assert sum(expected.values()) == 30
    assert sum(int(row["reason_poor_lighting"]) for row in rows) == 30
    assert sum(int(row["reason_isolated"]) for row in rows) == 0
    assert all(row["wkt"].startswith("POLYGON((") for row in rows)
    assert {f["geometry"]["type"] for f in features} == {"Polygon"}
    assert all(len(f["geometry"]["coordinates"][0]) == 7 for f in features)  # six corners
    assert gpkg.line("Geometry:") == "Polygon"
    assert gpkg.feature_count == len(expected)
    assert list(gpkg.fields) == HOTSPOT_COLUMNS
    assert (gpkg.fields["reports"], gpkg.fields["gi_z"], gpkg.fields["trend"]) == (
        "Integer",
        "Real",
        "String",
    )

    # The force sees the Worcester cells too, and a resolution not given is recorded.
    response = ask(client_for(force_planner), "hotspots", "csv")
    everything = csv_rows(fetched(client_for(force_planner), response.json()))
    assert response.json()["filters"] == {"resolution": "200"}
    assert sum(int(row["reports"]) for row in everything) == 54
    assert sum(int(row["reason_isolated"]) for row in everything) == 20


@committed
def test_place_exports_hold_the_live_places_in_scope_in_every_format(
    rebuilt: HotspotGeneration, shropshire_planner: User, force_planner: User, tmp_path: Path
) -> None:
    client = client_for(shropshire_planner)

    rows = csv_rows(exported(client, "places", "csv"))
    features = geojson_features(exported(client, "places", "geojson"))
    gpkg = GeoPackage(exported(client, "places", "gpkg"), tmp_path)

    assert list(rows[0]) == [*PLACE_COLUMNS, "lon", "lat", "wkt"]
    for found in (rows, [f["properties"] for f in features], gpkg.rows):
        assert [(r["area"], int(r["report_count"])) for r in found] == [("wm-shropshire", 30)]
    assert rows[0]["top_reasons"] == "poor_lighting"
    assert features[0]["properties"]["top_reasons"] == ["poor_lighting"]
    assert features[0]["geometry"]["type"] == "Polygon"
    assert abs(float(rows[0]["lon"]) - SHREWSBURY[0]) < 0.001
    assert gpkg.line("Geometry:") == "Polygon"
    assert gpkg.feature_count == 1
    assert list(gpkg.fields) == [*PLACE_COLUMNS, "lon", "lat"]

    everything = csv_rows(exported(client_for(force_planner), "places", "csv"))

    assert [(row["area"], row["report_count"]) for row in everything] == [
        ("wm-shropshire", "30"),
        ("wm-south-worcestershire", "20"),
    ]


# --------------------------------------------------------------------------------------
# A large export, through a real worker
# --------------------------------------------------------------------------------------


@pytest.fixture
def progress_seen() -> Iterator[list[float]]:
    """Every progress an export records, in order."""
    with progress_recorded(Export) as seen:
        yield seen


@pytest.mark.slow
@committed
def test_a_large_export_is_written_by_a_worker_which_reports_its_progress(
    shropshire_planner: User,
    settings: SettingsWrapper,
    celery_queue: str,
    progress_seen: list[float],
    tmp_path: Path,
) -> None:
    settings.EXPORT_INLINE_ROWS = 10
    settings.EXPORT_PROGRESS_ROWS = 7
    reports_around(SHREWSBURY, count=40, spread_m=200)
    client = client_for(shropshire_planner)

    response = ask(client, "reports", "gpkg")

    assert response.status_code == 202, response.json()
    queued = response.json()
    assert queued["status"] == "queued"
    assert response["Location"] == queued["url"]
    assert queued["url"].endswith(f"/api/v1/exports/{queued['id']}")
    body = wait_until_finished(client, queued["url"])
    assert (body["status"], body["progress"], body["row_count"]) == ("ready", 1.0, 40)
    assert body["error"] == ""
    # Started at 0; every 7 rows of 40, the rows being 90% of the work; then the GeoPackage.
    assert progress_seen == [0.0, *(0.9 * n / 40 for n in (7, 14, 21, 28, 35)), 1.0]
    gpkg = GeoPackage(fetched(client, body), tmp_path)
    assert gpkg.feature_count == 40

    # Run again, as a redelivered task would be: nothing changes.
    export = Export.objects.get(pk=body["id"])
    from geo.tasks import export_run_task

    assert export_run_task.apply_async(args=(export.pk,), queue=celery_queue).get(timeout=30) == (
        "ready"
    )
    again = Export.objects.get(pk=body["id"])
    assert (again.finished_at, again.file, again.row_count) == (
        export.finished_at,
        export.file,
        40,
    )


def wait_until_finished(client: APIClient, url: str, *, seconds: float = 30) -> dict[str, Any]:
    import time

    deadline = time.monotonic() + seconds
    while True:
        body: dict[str, Any] = client.get(url).json()
        if body["status"] in ("ready", "failed") or time.monotonic() > deadline:
            return body
        time.sleep(0.1)


# --------------------------------------------------------------------------------------
# The scope is the planner's when the export runs
# --------------------------------------------------------------------------------------


@pytest.fixture
def queued_export(
    shropshire_planner: User, settings: SettingsWrapper, two_towns_reports: None
) -> Export:
    """A Shropshire export too large to write in the request; its task never sent, as the
    test's transaction never commits."""
    settings.EXPORT_INLINE_ROWS = 0
    response = ask(client_for(shropshire_planner), "reports", "csv")
    assert response.status_code == 202
    export = Export.objects.get(pk=response.json()["id"])
    assert export.status == "queued"
    return export


@pytest.mark.django_db
def test_a_planner_moved_to_another_organisation_exports_nothing_of_the_old_scope(
    queued_export: Export, shropshire_planner: User, west_mercia_police: Organisation
) -> None:
    PlannerProfile.objects.filter(user=shropshire_planner).update(organisation=west_mercia_police)

    export = export_run(export_id=queued_export.pk)

    assert export.status == "failed"
    assert "another organisation" in export.error
    assert export.file == "" and export.finished_at is not None
    # Nor can they see it from the new organisation.
    response = client_for(shropshire_planner).get(f"/api/v1/exports/{export.pk}")
    assert response.status_code == 404


@pytest.mark.django_db
def test_someone_no_longer_a_planner_exports_nothing(
    queued_export: Export, shropshire_planner: User
) -> None:
    shropshire_planner.groups.remove(Group.objects.get(name="planners"))

    export = export_run(export_id=queued_export.pk)

    assert export.status == "failed"
    assert "no longer a planner" in export.error


@pytest.mark.django_db
def test_the_worker_exports_what_the_organisation_covers_when_it_runs(
    queued_export: Export, shropshire_planner: User, exports_dir: Path
) -> None:
    reports_around(HEREFORD, count=2, spread_m=30)
    organisation = Organisation.objects.get(pk=queued_export.organisation_id)
    organisation.areas.set(Area.objects.filter(code="wm-herefordshire"))

    export = export_run(export_id=queued_export.pk)

    assert export.status == "ready"
    rows = csv_rows((exports_dir / export.file).read_bytes())
    assert area_counts(rows) == {"wm-herefordshire": 2}


@pytest.mark.django_db
def test_running_a_finished_export_again_changes_nothing(
    queued_export: Export, exports_dir: Path
) -> None:
    first = export_run(export_id=queued_export.pk)
    written = (exports_dir / first.file).read_bytes()

    again = export_run(export_id=queued_export.pk)

    assert (again.status, again.finished_at, again.row_count) == ("ready", first.finished_at, 5)
    assert (exports_dir / again.file).read_bytes() == written
    assert len(list(exports_dir.iterdir())) == 1  # no working files left behind


# --------------------------------------------------------------------------------------
# Who may download, and the record
# --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_only_its_owner_can_see_or_download_an_export(
    shropshire_planner: User,
    force_planner: User,
    shropshire_council: Organisation,
    two_towns_reports: None,
) -> None:
    owner = client_for(shropshire_planner)
    body = ask(owner, "reports", "csv").json()
    colleague = planner_make("shropshire-colleague", shropshire_council)
    not_a_planner = User.objects.create_user("someone")
    status_url, download_url = body["url"], body["download_url"]

    for user in (force_planner, colleague):
        assert client_for(user).get(status_url).status_code == 404
        response = client_for(user).get(download_url)
        assert response.status_code == 404
        assert response.json() == {"detail": "No export of yours with this id."}
    anonymous = client_for(None)
    assert anonymous.get(status_url).status_code in (401, 403)
    assert anonymous.get(download_url).status_code in (401, 403)
    assert client_for(not_a_planner).get(status_url).status_code == 403
    assert client_for(not_a_planner).get(download_url).status_code == 403
    assert owner.get("/api/v1/exports/999999999/download").status_code == 404

    response = owner.get(download_url)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    day = Export.objects.get().created_at.strftime("%Y%m%d")
    assert response["Content-Disposition"] == (
        f'attachment; filename="streetsafe-reports-{day}-{body["id"]}.csv"'
    )
    assert len(csv_rows(streamed(response))) == 5


@pytest.mark.django_db
def test_downloads_carry_each_formats_content_type(shropshire_planner: User) -> None:
    client = client_for(shropshire_planner)
    for format, content_type, extension in (
        ("geojson", "application/geo+json", "geojson"),
        ("gpkg", "application/geopackage+sqlite3", "gpkg"),
    ):
        response = client.get(ask(client, "places", format).json()["download_url"])
        assert response["Content-Type"] == content_type
        assert response["Content-Disposition"].endswith(f'.{extension}"')


@pytest.mark.django_db
def test_an_export_not_ready_cannot_be_downloaded(
    queued_export: Export, shropshire_planner: User
) -> None:
    client = client_for(shropshire_planner)
    body = client.get(f"/api/v1/exports/{queued_export.pk}").json()
    assert (body["status"], body["download_url"]) == ("queued", None)

    response = client.get(f"/api/v1/exports/{queued_export.pk}/download")

    assert response.status_code == 409
    assert response.json() == {"detail": "The export is queued, not ready to download."}


@pytest.mark.django_db
def test_a_download_whose_file_is_gone_says_so(shropshire_planner: User, exports_dir: Path) -> None:
    client = client_for(shropshire_planner)
    body = ask(client, "reports", "csv").json()
    (exports_dir / Export.objects.get().file).unlink()

    assert client.get(body["download_url"]).status_code == 410


@pytest.mark.django_db
def test_every_export_is_recorded_with_who_what_when_and_how_many_rows(
    shropshire_planner: User,
    shropshire_council: Organisation,
    two_towns_reports: None,
    exports_dir: Path,
) -> None:
    response = ask(
        client_for(shropshire_planner),
        "reports",
        "geojson",
        reasons="poor_lighting, isolated",
        area="wm-shropshire",
        time_band="",
    )

    body = response.json()
    export = Export.objects.get()
    assert (export.user, export.organisation, export.layer, export.format) == (
        shropshire_planner,
        shropshire_council,
        "reports",
        "geojson",
    )
    assert export.filters == {"area": "wm-shropshire", "reasons": "isolated,poor_lighting"}
    assert (export.status, export.progress, export.row_count) == ("ready", 1.0, 5)
    assert export.started_at is not None and export.finished_at is not None
    assert export.created_at <= export.started_at <= export.finished_at
    assert export.file_size == (exports_dir / export.file).stat().st_size
    assert body == {
        "id": export.pk,
        "layer": "reports",
        "format": "geojson",
        "filters": {"area": "wm-shropshire", "reasons": "isolated,poor_lighting"},
        "status": "ready",
        "progress": 1.0,
        "row_count": 5,
        "file_size": export.file_size,
        "filename": f"streetsafe-reports-{export.created_at:%Y%m%d}-{export.pk}.geojson",
        "created_at": body["created_at"],
        "started_at": body["started_at"],
        "finished_at": body["finished_at"],
        "error": "",
        "url": f"http://testserver/api/v1/exports/{export.pk}",
        "download_url": f"http://testserver/api/v1/exports/{export.pk}/download",
    }
    assert response["Location"] == body["url"]


@pytest.mark.django_db
def test_the_list_has_the_callers_own_exports_newest_first_in_a_pinned_number_of_queries(
    shropshire_planner: User,
    force_planner: User,
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    client = client_for(shropshire_planner)
    first, second, third = (
        ask(client, "places", format).json() for format in ("csv", "geojson", "gpkg")
    )
    ask(client_for(force_planner), "places", "csv")

    # 1. the token and its user; 2. the planner's organisation (its areas are cached);
    # 3. the count of their exports; 4. the page of them.
    with django_assert_num_queries(4):
        response = client.get("/api/v1/exports")

    body = response.json()
    assert body["count"] == 3
    assert [export["id"] for export in body["results"]] == [third["id"], second["id"], first["id"]]
    assert body["results"][0] == client.get(third["url"]).json()

    page = client.get("/api/v1/exports?limit=1&offset=1").json()
    assert [export["id"] for export in page["results"]] == [second["id"]]


@pytest.mark.django_db
def test_the_status_of_an_export_takes_a_pinned_number_of_queries(
    shropshire_planner: User, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    client = client_for(shropshire_planner)
    body = ask(client, "places", "csv").json()

    # 1. the token and its user; 2. the planner's organisation (its areas are cached);
    # 3. the export, if theirs.
    with django_assert_num_queries(3):
        response = client.get(body["url"])

    assert response.json()["status"] == "ready"


@pytest.mark.django_db
def test_files_are_deleted_after_the_retention_period_and_the_records_stay(
    shropshire_planner: User, settings: SettingsWrapper, exports_dir: Path
) -> None:
    settings.EXPORT_RETENTION_DAYS = 7
    client = client_for(shropshire_planner)
    body = ask(client, "reports", "csv").json()
    export = Export.objects.get()
    assert export.finished_at is not None
    stale_work = exports_dir / ".export-999-stale"
    fresh_work = exports_dir / ".export-1000-fresh"
    stale_work.mkdir()
    fresh_work.mkdir()
    two_days_ago = (timezone.now() - timedelta(days=2)).timestamp()
    os.utime(stale_work, (two_days_ago, two_days_ago))

    assert exports_purge_expired() == 0
    assert not stale_work.exists() and fresh_work.exists()
    assert exports_purge_expired(now=export.finished_at + timedelta(days=6)) == 0
    assert (exports_dir / export.file).exists()

    assert exports_purge_expired(now=export.finished_at + timedelta(days=7, seconds=1)) == 1

    assert not (exports_dir / export.file).exists()
    export.refresh_from_db()
    assert (export.status, export.row_count) == ("expired", 0)
    status = client.get(body["url"]).json()
    assert (status["status"], status["download_url"]) == ("expired", None)
    response = client.get(body["download_url"])
    assert response.status_code == 410
    assert response.json() == {
        "detail": "The export's file has been deleted: ask for the export again."
    }
    assert exports_purge_expired(now=export.finished_at + timedelta(days=30)) == 0


@pytest.mark.django_db
def test_expired_files_are_purged_on_a_schedule() -> None:
    from django.conf import settings

    from geo.tasks import exports_purge_expired_task

    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}

    assert exports_purge_expired_task.name in scheduled


# --------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_bad_input_is_a_400_naming_the_field(shropshire_planner: User) -> None:
    client = client_for(shropshire_planner)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"format": "csv"}, "layer"),
        ({"layer": "streetlights", "format": "csv"}, "layer"),
        ({"layer": "reports", "format": "shp"}, "format"),
        ({"layer": "reports", "format": "csv", "filters": {"reasons": "nope"}}, "filters.reasons"),
        ({"layer": "reports", "format": "csv", "filters": {"reasons": ["x"]}}, "filters.reasons"),
        (
            {"layer": "places", "format": "csv", "filters": {"resolution": "200"}},
            "filters.resolution",
        ),
        (
            {"layer": "hotspots", "format": "csv", "filters": {"resolution": "300"}},
            "filters.resolution",
        ),
        (
            {"layer": "reports", "format": "csv", "filters": {"area": "wm-south-worcestershire"}},
            "filters.area",
        ),
        (
            {"layer": "reports", "format": "csv", "filters": {"in_bbox": "1,2,3"}},
            "filters.in_bbox",
        ),
        ({"layer": "reports", "format": "csv", "filters": "area=x"}, "filters"),
    ]

    for body, field in cases:
        response = client.post("/api/v1/exports", body, format="json")
        assert response.status_code == 400, body
        assert response.json()["detail"] == "Invalid input."
        assert list(response.json()["errors"]) == [field], response.json()
    assert not Export.objects.exists()

    response = client.post(
        "/api/v1/exports",
        {"layer": "reports", "format": "csv", "filters": {"area": "wm-shropshire"}},
        format="json",
    )
    assert response.status_code == 201


@pytest.mark.django_db
def test_only_planners_may_ask_for_exports(shropshire_planner: User) -> None:
    someone = User.objects.create_user("someone")
    # Anonymous: 401 asking for a token, or 403, by which authentication DRF tries first.
    for client, refused in ((client_for(None), (401, 403)), (client_for(someone), (403,))):
        assert ask(client, "reports", "csv").status_code in refused
        assert client.get("/api/v1/exports").status_code in refused
    assert not Export.objects.exists()

    assert ask(client_for(shropshire_planner), "reports", "csv").status_code == 201


@pytest.mark.django_db
def test_the_planner_map_asks_with_its_session_and_csrf_token(shropshire_planner: User) -> None:
    client = APIClient(enforce_csrf_checks=True)
    assert client.login(username=shropshire_planner.username, password=PLANNER_PASSWORD)
    token = "abcdefghijklmnopqrstuvwxyzABCDEF"  # a CSRF secret, as the cookie holds it
    client.cookies["csrftoken"] = token

    assert ask(client, "places", "csv").status_code == 403  # no X-CSRFToken header

    response = client.post(
        "/api/v1/exports",
        {"layer": "places", "format": "csv"},
        format="json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert response.status_code == 201
    assert client.get(response.json()["download_url"]).status_code == 200


@pytest.mark.django_db
def test_the_admin_lists_exports_and_changes_none(
    shropshire_planner: User, admin_client: Any
) -> None:
    ask(client_for(shropshire_planner), "places", "csv")
    export = Export.objects.get()

    assert admin_client.get("/admin/geo/export/").status_code == 200
    page = admin_client.get(f"/admin/geo/export/{export.pk}/change/")
    assert page.status_code == 200
    assert b"shropshire-planner" in page.content
    assert admin_client.post(f"/admin/geo/export/{export.pk}/delete/").status_code == 403


@pytest.mark.django_db
def test_the_exports_are_in_the_openapi_schema() -> None:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)

    paths = schema["paths"]
    assert set(paths["/api/v1/exports"]) == {"get", "post"}
    assert set(paths["/api/v1/exports/{export_id}"]) == {"get"}
    download = paths["/api/v1/exports/{export_id}/download"]["get"]
    assert set(download["responses"]["200"]["content"]) == {
        "text/csv",
        "application/geo+json",
        "application/geopackage+sqlite3",
    }
    assert {"201", "202", "400", "403"} <= set(paths["/api/v1/exports"]["post"]["responses"])
