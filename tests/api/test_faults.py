"""What the app sees when Redis or PostgreSQL goes down under a real gunicorn."""

from collections.abc import Iterator

import pytest
from django.db import connection

from reports.models import Report
from tests.conftest import a_report
from tests.support.live import LiveService

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def live(west_mercia: None) -> Iterator[LiveService]:
    service = LiveService(database_name=connection.settings_dict["NAME"])
    yield service
    service.close()


def test_with_redis_down_a_report_is_still_accepted_and_stored(live):
    live.redis_proxy.stop()
    body = a_report()

    status, _, data = live.request("POST", "/api/v1/reports", body)

    assert status == 201, data
    assert Report.objects.filter(pk=body["id"]).exists()
    health_status, _, health = live.request("GET", "/healthz")
    assert health_status == 503
    assert health["database"] == "ok"
    assert health["broker"].startswith("unavailable")


def test_with_postgresql_down_it_answers_503_and_the_retry_succeeds_once_back(live):
    body = a_report()
    assert live.request("GET", "/healthz")[0] == 200
    live.db_proxy.stop()

    status, headers, data = live.request("POST", "/api/v1/reports", body)
    health_status, _, health = live.request("GET", "/healthz")

    assert status == 503, data
    assert int(headers["Retry-After"]) > 0
    assert "detail" in data
    assert health_status == 503
    assert health["database"].startswith("unavailable")
    assert health["broker"] == "ok"
    assert not Report.objects.filter(pk=body["id"]).exists()

    live.db_proxy.start()
    status, _, data = live.request("POST", "/api/v1/reports", body)

    assert status == 201, data
    assert Report.objects.filter(pk=body["id"]).count() == 1


def test_config_and_delete_answer_503_too_while_the_database_is_down(live):
    live.db_proxy.stop()

    assert live.request("GET", "/api/v1/config")[0] == 503
    status, headers, _ = live.request(
        "DELETE", "/api/v1/reports/0d6f6f0e-4b5b-4c55-9d3a-2a4f4f1f0c11", headers={"X-Receipt": "r"}
    )
    assert status == 503
    assert "Retry-After" in headers
