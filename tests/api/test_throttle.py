"""Per-client throttling of report intake."""

import pytest
from django.core.cache import cache

from reports.models import Report
from tests.conftest import a_report

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("west_mercia")]


def post(client, address):
    return client.post("/api/v1/reports", a_report(), format="json", REMOTE_ADDR=address)


def test_it_answers_429_with_retry_after_past_the_rate(reporter, settings):
    settings.REPORT_THROTTLE_RATE = "3/min"

    statuses = [post(reporter, "198.51.100.7").status_code for _ in range(4)]
    response = post(reporter, "198.51.100.7")

    assert statuses == [201, 201, 201, 429]
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60
    assert "detail" in response.json()
    assert Report.objects.count() == 3


def test_each_client_has_its_own_allowance(reporter, settings):
    settings.REPORT_THROTTLE_RATE = "1/min"

    assert post(reporter, "198.51.100.7").status_code == 201
    assert post(reporter, "198.51.100.7").status_code == 429
    assert post(reporter, "198.51.100.8").status_code == 201


def test_the_cache_keeps_a_salted_hash_not_the_address(reporter, settings):
    settings.REPORT_THROTTLE_RATE = "5/min"

    post(reporter, "198.51.100.7")

    keys = [key.decode() for key in cache._cache.get_client().keys("*")]  # type: ignore[attr-defined]
    assert any("throttle:reports:" in key for key in keys)
    assert not any("198.51.100.7" in key for key in keys)
    salt_keys = [key for key in keys if "throttle-salt:" in key]
    assert len(salt_keys) == 1
    assert 0 < cache._cache.get_client().ttl(salt_keys[0]) <= 2 * 86400  # type: ignore[attr-defined]


def test_a_forged_forwarded_for_header_does_not_dodge_the_limit(reporter, settings):
    settings.REPORT_THROTTLE_RATE = "1/min"

    first = reporter.post(
        "/api/v1/reports",
        a_report(),
        format="json",
        REMOTE_ADDR="198.51.100.7",
        HTTP_X_FORWARDED_FOR="192.0.2.1",
    )
    second = reporter.post(
        "/api/v1/reports",
        a_report(),
        format="json",
        REMOTE_ADDR="198.51.100.7",
        HTTP_X_FORWARDED_FOR="192.0.2.2",
    )

    assert (first.status_code, second.status_code) == (201, 429)


def test_the_limit_resets_after_the_window(reporter, settings):
    settings.REPORT_THROTTLE_RATE = "1/s"
    assert post(reporter, "198.51.100.9").status_code == 201
    assert post(reporter, "198.51.100.9").status_code == 429

    import time

    time.sleep(2.1)

    assert post(reporter, "198.51.100.9").status_code == 201
