"""GDAL, the library under QGIS, reads the planner layers over HTTP with a token."""

import os
import subprocess
from typing import Any

import pytest

from geo.hotspots.rebuild import hotspots_rebuild
from tests.cast import organisation_make, planner_make
from tests.fixtures.points import SHREWSBURY, WORCESTER
from tests.geo.hotspot_factories import prime_study_cache, reports_around, use_coarse_grids

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("west_mercia"),
]


def ogrinfo(url: str, token: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GDAL_HTTP_TIMEOUT": "30"}
    if token is not None:
        env["GDAL_HTTP_HEADERS"] = f"Authorization: Token {token}"
    return subprocess.run(
        ["ogrinfo", "-ro", *args, url],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.fixture
def towns(settings: Any) -> None:
    use_coarse_grids(settings)
    prime_study_cache()
    reports_around(WORCESTER, count=30, spread_m=100, seed=1)
    reports_around(SHREWSBURY, count=30, spread_m=100, seed=2, reasons=("followed",))
    hotspots_rebuild()


def token_of(user: Any) -> str:
    from knox.models import AuthToken

    return AuthToken.objects.create(user=user, expiry=None)[1]


def test_gdal_reads_hotspots_and_report_points_with_a_planners_token(towns, live_server):
    council = organisation_make("Shropshire Council", "wm-shropshire")
    token = token_of(planner_make("qgis-user", council))

    hotspots = ogrinfo(f"{live_server.url}/api/v1/hotspots?resolution=1000", token, "-al", "-so")
    reports = ogrinfo(f"{live_server.url}/api/v1/reports?page_size=100", token, "-al", "-so")

    assert hotspots.returncode == 0, hotspots.stderr
    assert "Geometry: Polygon" in hotspots.stdout
    assert "gi_class: Integer" in hotspots.stdout
    assert "area: String" in hotspots.stdout
    assert reports.returncode == 0, reports.stderr
    assert "Geometry: Point" in reports.stdout
    # The council's 30 reports, none of Worcester's.
    assert "Feature Count: 30" in reports.stdout


def test_gdal_reads_the_features_within_the_planners_scope_only(towns, live_server):
    council = organisation_make("Shropshire Council", "wm-shropshire")
    token = token_of(planner_make("qgis-user", council))

    result = ogrinfo(f"{live_server.url}/api/v1/hotspots?resolution=1000", token, "-al", "-geom=NO")

    assert result.returncode == 0, result.stderr
    areas = {
        line.split("=", 1)[1].strip()
        for line in result.stdout.splitlines()
        if line.strip().startswith("area (String)")
    }
    assert areas == {"wm-shropshire"}


def test_gdal_without_a_token_gets_no_features(towns, live_server):
    result = ogrinfo(f"{live_server.url}/api/v1/hotspots", None, "-al", "-so")

    # The 401/403 body is an error object, not a layer: GDAL opens nothing.
    assert result.returncode != 0 or "Feature Count: 0" in result.stdout
    assert "gi_class" not in result.stdout


def test_the_public_layer_opens_in_gdal_without_a_token(towns, live_server):
    from rest_framework.test import APIClient

    result = ogrinfo(f"{live_server.url}/api/v1/public/hotspots", None, "-al", "-so")
    served = APIClient().get("/api/v1/public/hotspots").json()["features"]

    assert result.returncode == 0, result.stderr
    assert len(served) >= 2  # a cell or more in each town
    assert f"Feature Count: {len(served)}" in result.stdout
    assert "gi_class" not in result.stdout
