"""POST /api/v1/reports: the app's single report."""

import json
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from reports.models import Report
from tests.conftest import a_report
from tests.fixtures.points import BIRMINGHAM, LONDON, SHREWSBURY, WORCESTER

URL = "/api/v1/reports"
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("west_mercia")]


def post(client, body, **kwargs):
    return client.post(URL, body, format="json", **kwargs)


def test_it_stores_a_report_and_returns_a_receipt_area_and_advice(reporter):
    body = a_report(felt_at=(timezone.now() - timedelta(hours=2)).isoformat())

    response = post(reporter, body)

    assert response.status_code == 201, response.content
    data = response.json()
    assert data["id"] == body["id"]
    assert len(data["receipt"]) >= 40
    assert data["area"] == {"code": "wm-south-worcestershire", "name": "South Worcestershire"}
    assert any("well-lit" in line for line in data["advice"])
    assert any("999" in item["text"] for item in data["signposting"])
    report = Report.objects.get(pk=body["id"])
    assert report.reasons == ["isolated", "poor_lighting"]
    assert report.severity == 2
    assert report.feeling == "unsafe"
    assert report.area is not None and report.area.code == "wm-south-worcestershire"
    assert report.location.x == pytest.approx(WORCESTER[0])
    assert report.location_projected.srid == 27700
    # British National Grid: Worcester is about 385 km east, 255 km north of the origin.
    assert 380_000 < report.location_projected.x < 390_000
    assert report.receipt_hash != data["receipt"]


def test_it_accepts_a_safe_report_without_reasons(reporter):
    response = post(reporter, a_report(feeling="safe", reasons=[]))

    assert response.status_code == 201, response.content
    assert Report.objects.get().feeling == "safe"


def test_it_locates_reports_in_each_local_policing_area(reporter):
    response = post(reporter, a_report(location={"type": "Point", "coordinates": SHREWSBURY}))

    assert response.json()["area"]["code"] == "wm-shropshire"


def test_the_stored_row_holds_no_address_agent_or_device(reporter):
    body = a_report(description="A man shouted at me", app_version="1.4.2")

    post(reporter, body, REMOTE_ADDR="203.0.113.77", HTTP_USER_AGENT="StreetSafe/1.4.2 (Pixel 8)")

    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM reports_report WHERE id = %s", [body["id"]])
        row = cursor.fetchone()
        columns = [c.name for c in cursor.description]
    stored = " ".join(str(value) for value in row)
    assert "203.0.113.77" not in stored
    assert "Pixel" not in stored
    assert not {"ip", "ip_address", "user_agent", "device_id", "user_id", "account_id"} & set(
        columns
    )


def test_free_text_is_redacted_beside_the_original_and_pending(reporter):
    body = a_report(description="Followed by a car AB12 CDE, call me on 07700 900123")

    post(reporter, body)

    report = Report.objects.get(pk=body["id"])
    assert report.description == body["description"]
    assert "AB12" not in report.description_redacted
    assert "07700" not in report.description_redacted
    assert report.text_state == "pending"


def test_received_at_is_truncated_to_the_hour(reporter):
    post(reporter, a_report())

    received = Report.objects.get().received_at
    assert (received.minute, received.second, received.microsecond) == (0, 0, 0)


class TestReplay:
    def test_the_same_body_again_returns_the_same_receipt_and_stores_nothing_new(self, reporter):
        body = a_report(description="dark path")
        first = post(reporter, body)

        again = post(reporter, body)

        assert first.status_code == 201
        assert again.status_code == 200
        assert again.json() == first.json()
        assert Report.objects.count() == 1

    def test_the_same_id_with_another_body_is_a_conflict(self, reporter):
        body = a_report()
        post(reporter, body)

        response = post(reporter, {**body, "severity": 3})

        assert response.status_code == 409
        assert "id" in response.json()["errors"]
        assert Report.objects.get().severity == 2

    def test_reasons_in_another_order_are_the_same_body(self, reporter):
        body = a_report(reasons=["poor_lighting", "isolated"])
        post(reporter, body)

        response = post(reporter, {**body, "reasons": ["isolated", "poor_lighting"]})

        assert response.status_code == 200


@pytest.mark.django_db(transaction=True)
def test_two_identical_requests_racing_store_one_report(west_mercia):
    from rest_framework.test import APIClient

    body = a_report()
    barrier = threading.Barrier(8)
    statuses: list[int] = []
    receipts: set[str] = set()

    def send() -> None:
        client = APIClient()
        barrier.wait()
        response = post(client, body)
        statuses.append(response.status_code)
        receipts.add(response.json()["receipt"])
        connection.close()

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses).count(201) == 1
    assert set(statuses) <= {200, 201}
    assert len(receipts) == 1
    assert Report.objects.count() == 1


class TestRejections:
    @pytest.mark.parametrize(
        ("location", "needle"),
        [
            ({"type": "Point", "coordinates": [-200, 52]}, "Longitude"),
            ({"type": "Point", "coordinates": [-2.2, 95]}, "Latitude"),
            ({"type": "Point", "coordinates": ["-2.2", 52.1]}, "numbers"),
            ({"type": "Point", "coordinates": [True, 52.1]}, "numbers"),
            ({"type": "Point", "coordinates": [-2.2]}, "[longitude, latitude]"),
            ({"type": "LineString", "coordinates": [[-2.2, 52.1], [-2.3, 52.2]]}, "Point"),
            ([-2.2, 52.1], "Point"),
            (None, "required"),
        ],
    )
    def test_it_rejects_a_bad_location(self, reporter, location, needle):
        body = a_report(location=location)

        response = post(reporter, body)

        assert response.status_code == 400
        assert needle in " ".join(response.json()["errors"]["location"])
        assert not Report.objects.exists()
        assert post(reporter, a_report()).status_code == 201

    @pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
    def test_it_rejects_nan_and_infinity_naming_the_location(self, reporter, constant):
        raw = json.dumps(a_report(location={"type": "Point", "coordinates": ["LON", 52.19]}))
        raw = raw.replace('"LON"', constant)

        response = reporter.post(URL, raw, content_type="application/json")

        assert response.status_code == 400, response.content
        assert "finite" in response.json()["errors"]["location"][0]

    def test_it_rejects_a_point_outside_the_service_area_naming_the_area(self, reporter):
        for point in (BIRMINGHAM, LONDON):
            response = post(reporter, a_report(location={"type": "Point", "coordinates": point}))

            assert response.status_code == 400
            assert "West Mercia" in response.json()["errors"]["location"][0]
        assert not Report.objects.exists()

    @pytest.mark.parametrize(
        ("field", "value", "needle"),
        [
            ("reasons", ["poor_lighting", "aliens"], "Unknown reason 'aliens'"),
            ("reasons", [], "at least one reason"),
            ("reasons", "poor_lighting", "list"),
            ("reasons", [1], "list"),
            ("feeling", "scared", "unsafe, safe"),
            ("severity", 4, "1 (uneasy)"),
            ("severity", "2", "1 (uneasy)"),
            ("severity", 2.5, "1 (uneasy)"),
            ("felt_at", "yesterday", "ISO 8601"),
            ("felt_at", "2026-01-01T10:00:00", "offset"),
            ("description", 42, "text"),
            ("description", "x" * 1001, "At most 1000 characters"),
            ("app_version", "v" * 33, "At most 32"),
            ("id", "not-a-uuid", "not a valid UUID"),
            ("id", 12, "UUID string"),
        ],
    )
    def test_it_rejects_bad_fields_naming_them(self, reporter, field, value, needle):
        response = post(reporter, a_report(**{field: value}))

        assert response.status_code == 400
        errors = response.json()["errors"]
        assert list(errors) == [field]
        assert needle in errors[field][0]
        assert not Report.objects.exists()

    def test_it_rejects_felt_at_in_the_future_and_over_a_year_ago(self, reporter):
        future = (timezone.now() + timedelta(hours=1)).isoformat()
        ancient = (timezone.now() - timedelta(days=400)).isoformat()

        assert "future" in post(reporter, a_report(felt_at=future)).json()["errors"]["felt_at"][0]
        assert "year" in post(reporter, a_report(felt_at=ancient)).json()["errors"]["felt_at"][0]

    def test_it_rejects_a_missing_id(self, reporter):
        body = a_report()
        del body["id"]

        assert "id" in post(reporter, body).json()["errors"]

    def test_it_rejects_malformed_json_naming_the_body(self, reporter):
        response = reporter.post(URL, '{"id": "x", "location": ', content_type="application/json")

        assert response.status_code == 400
        assert "body" in response.json()["errors"]

    def test_it_rejects_a_json_array_body(self, reporter):
        response = reporter.post(URL, "[1, 2]", content_type="application/json")

        assert response.status_code == 400
        assert "body" in response.json()["errors"]

    def test_it_refuses_a_wrong_content_type_with_415(self, reporter):
        response = reporter.post(URL, "id=1", content_type="application/x-www-form-urlencoded")

        assert response.status_code == 415
        assert "Content-Type" in response.json()["errors"]

    def test_it_refuses_a_body_over_the_limit_with_413(self, reporter, settings):
        settings.MAX_BODY_BYTES = 2048
        body = json.dumps(a_report(description="x" * 900, app_version="1")) + " " * 2000

        response = reporter.post(URL, body, content_type="application/json")

        assert response.status_code == 413
        assert "body" in response.json()["errors"]
        assert not Report.objects.exists()

    def test_it_strips_nul_characters_instead_of_failing(self, reporter):
        body = a_report(description="dark\x00 alley")

        assert post(reporter, body).status_code == 201
        assert Report.objects.get().description == "dark alley"

    def test_a_rejected_report_changes_nothing_already_stored(self, reporter):
        stored = a_report(description="first")
        post(reporter, stored)

        post(reporter, {**a_report(reasons=["nope"]), "id": stored["id"]})

        report = Report.objects.get()
        assert report.description == "first"
        assert report.reasons == ["isolated", "poor_lighting"]
