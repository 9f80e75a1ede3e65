"""GET /api/v1/config."""

import pytest

from reports.reasons import REASON_CODES

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("west_mercia")]


def test_it_lists_the_reasons_with_groups_and_interventions(reporter):
    data = reporter.get("/api/v1/config").json()

    reasons = {r["code"]: r for r in data["reasons"]}
    assert tuple(reasons) == REASON_CODES
    assert reasons["poor_lighting"]["group"] == "environmental"
    assert reasons["poor_lighting"]["interventions"] == ["lighting"]
    assert reasons["followed"]["group"] == "behavioural"
    assert set(reasons["followed"]["interventions"]) == {"cctv", "patrol"}
    assert all(r["label"] for r in data["reasons"])


def test_it_gives_the_service_area_bbox_and_a_simplified_polygon(reporter):
    area = reporter.get("/api/v1/config").json()["service_area"]

    minx, miny, maxx, maxy = area["bbox"]
    # West Mercia spans Herefordshire to Worcestershire, Shropshire to the Welsh border.
    assert -3.3 < minx < -3.1 and -1.8 < maxx < -1.7
    assert 51.8 < miny < 51.9 and 52.9 < maxy < 53.1
    assert area["polygon"]["type"] in ("Polygon", "MultiPolygon")
    assert "West Mercia" in area["name"]


def test_it_signposts_999_101_and_crimestoppers(reporter):
    data = reporter.get("/api/v1/config").json()

    text = " ".join(item["text"] for item in data["signposting"])
    assert "999" in text and "101" in text and "0800 555 111" in text
    assert "anonymous" in text.lower()
    assert "not for reporting crime" in text
    assert data["advice"]


def test_it_gives_the_limits(reporter, settings):
    settings.MAX_BATCH = 42

    limits = reporter.get("/api/v1/config").json()["limits"]

    assert limits == {"max_description_length": 1000, "max_batch": 42}


def test_an_etag_lets_the_app_revalidate_with_a_304(reporter):
    first = reporter.get("/api/v1/config")
    etag = first["ETag"]

    again = reporter.get("/api/v1/config", HTTP_IF_NONE_MATCH=etag)

    assert first.status_code == 200
    assert again.status_code == 304
    assert again.content == b""
    assert "max-age" in first["Cache-Control"]


def test_the_etag_changes_when_the_config_does(reporter, settings):
    etag = reporter.get("/api/v1/config")["ETag"]
    settings.MAX_BATCH = 7

    response = reporter.get("/api/v1/config", HTTP_IF_NONE_MATCH=etag)

    assert response.status_code == 200
    assert response["ETag"] != etag
