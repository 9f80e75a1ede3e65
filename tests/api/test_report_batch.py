"""POST /api/v1/reports/batch: the app's offline queue."""

import pytest

from reports.models import Report
from tests.conftest import a_report
from tests.fixtures.points import BIRMINGHAM

URL = "/api/v1/reports/batch"
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("west_mercia")]


def post(client, body):
    return client.post(URL, body, format="json")


def test_it_stores_valid_items_and_reports_each_in_order(reporter):
    stored_before = a_report()
    reporter.post("/api/v1/reports", stored_before, format="json")
    valid = a_report(description="underpass")
    bad_reason = a_report(reasons=["unicorns"])
    outside = a_report(location={"type": "Point", "coordinates": BIRMINGHAM})
    conflicting = {**stored_before, "severity": 3}

    response = post(
        reporter, {"reports": [valid, bad_reason, stored_before, outside, conflicting, "x"]}
    )

    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [r["status"] for r in results] == [
        "created",
        "invalid",
        "duplicate",
        "invalid",
        "invalid",
        "invalid",
    ]
    assert [r["index"] for r in results] == list(range(6))
    assert results[0]["id"] == valid["id"] and results[0]["receipt"]
    assert results[0]["area"]["code"] == "wm-south-worcestershire"
    assert "reasons" in results[1]["errors"]
    assert "West Mercia" in results[3]["errors"]["location"][0]
    assert "id" in results[4]["errors"]
    assert "body" in results[5]["errors"]
    assert Report.objects.count() == 2
    assert Report.objects.get(pk=stored_before["id"]).severity == 2


def test_a_replayed_batch_returns_the_same_receipts_and_stores_nothing_new(reporter):
    batch = {"reports": [a_report(), a_report()]}
    first = post(reporter, batch).json()["results"]

    again = post(reporter, batch).json()["results"]

    assert [r["status"] for r in again] == ["duplicate", "duplicate"]
    assert [r["receipt"] for r in again] == [r["receipt"] for r in first]
    assert Report.objects.count() == 2


def test_the_same_id_twice_in_one_batch_is_stored_once(reporter):
    report = a_report()
    other_body = {**report, "severity": 1}

    results = post(reporter, {"reports": [report, report, other_body]}).json()["results"]

    assert [r["status"] for r in results] == ["created", "duplicate", "invalid"]
    assert Report.objects.count() == 1


def test_it_refuses_more_than_the_configured_limit(reporter, settings):
    settings.MAX_BATCH = 3

    response = post(reporter, {"reports": [a_report() for _ in range(4)]})

    assert response.status_code == 400
    assert "At most 3" in response.json()["errors"]["reports"][0]
    assert not Report.objects.exists()
    assert post(reporter, {"reports": [a_report() for _ in range(3)]}).status_code == 200


@pytest.mark.parametrize("body", [{}, {"reports": "all"}, [a_report()]])
def test_it_rejects_a_body_without_a_reports_list(reporter, body):
    response = post(reporter, body)

    assert response.status_code == 400
    assert "reports" in response.json()["errors"]


def test_an_empty_batch_is_fine(reporter):
    assert post(reporter, {"reports": []}).json() == {"results": []}


def test_it_refuses_a_wrong_content_type_with_415(reporter):
    response = reporter.post(URL, "reports=1", content_type="text/plain")

    assert response.status_code == 415
