"""The report POSTs' short path answers exactly as the long one it replaces.

The app's JSON POSTs to /api/v1/reports and /api/v1/reports/batch skip DRF's request
machinery (reports.apis.intake_fast_path) and the middleware they do not use
(streetsafe.middleware.IntakeMiddleware). Both must give the same status, headers and body,
byte for byte, as DRF's view behind Django's whole middleware chain.
"""

import json
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import RequestFactory
from rest_framework.test import APIClient

from reports.apis import ReportBatchApi, ReportCollectionApi, intake_fast_path, submit_one
from reports.models import Report
from reports.throttles import intake_admit
from tests.cast import client_for
from tests.conftest import a_report
from tests.fixtures.points import BIRMINGHAM, WORCESTER

URL = "/api/v1/reports"
BATCH_URL = "/api/v1/reports/batch"
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("west_mercia")]

# Bodies that store nothing: every answer can be compared as it is.
REFUSED = [
    a_report(reasons=["aliens"]),
    a_report(location={"type": "Point", "coordinates": BIRMINGHAM}),
    a_report(location={"type": "Point", "coordinates": [-200, 52]}),
    a_report(severity="2", description=42),
    [1, 2],
    "null",
    '{"id": "x", "location": ',
    json.dumps(a_report(location={"type": "Point", "coordinates": ["LON", 52.19]})).replace(
        '"LON"', "NaN"
    ),
    b'{"id": "\xff"}',
]


def raw(body: Any) -> bytes:
    if isinstance(body, bytes):
        return body
    return (body if isinstance(body, str) else json.dumps(body)).encode()


def answer(response: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    if hasattr(response, "render"):
        response.render()
    return response.status_code, sorted(response.items()), response.content


def through_both(path: str, body: Any, **extra: Any) -> tuple[Any, Any]:
    """The same request through the short path and through DRF's view alone."""
    view = ReportCollectionApi if path == URL else ReportBatchApi
    factory = RequestFactory()
    short = intake_fast_path(view.as_view(), submit_one)
    if view is ReportBatchApi:
        from reports.apis import submit_batch

        short = intake_fast_path(view.as_view(), submit_batch)
    request = factory.post(path, raw(body), content_type="application/json", **extra)
    again = factory.post(path, raw(body), content_type="application/json", **extra)
    return answer(short(request)), answer(view.as_view()(again))


@pytest.mark.parametrize("body", REFUSED)
def test_refusals_are_the_answers_drf_gives(body):
    fast, drf = through_both(URL, body)

    assert fast == drf
    assert fast[0] == 400


def test_a_report_and_its_replay_and_a_conflict_are_the_answers_drf_gives():
    body = a_report(description="dark path", felt_at="2026-11-20T22:15:00+00:00")
    stored, replayed = through_both(URL, body)  # DRF's view sees the replay

    assert stored[0] == 201 and replayed[0] == 200
    assert stored[1] == replayed[1]
    assert json.loads(stored[2]) == json.loads(replayed[2])
    assert through_both(URL, body) == (replayed, replayed)
    conflict = {**body, "severity": 3}
    assert through_both(URL, conflict)[0] == through_both(URL, conflict)[1]
    assert Report.objects.count() == 1


def test_a_batch_is_the_answer_drf_gives():
    batch = {"reports": [a_report(), a_report(reasons=["nope"]), "x", a_report()]}

    first, replayed = through_both(BATCH_URL, batch)

    assert [r["status"] for r in json.loads(first[2])["results"]] == [
        "created",
        "invalid",
        "invalid",
        "created",
    ]
    assert through_both(BATCH_URL, batch) == (replayed, replayed)
    assert (
        through_both(BATCH_URL, {"reports": "all"})[0]
        == through_both(BATCH_URL, {"reports": "all"})[1]
    )


def test_a_throttled_report_is_the_answer_drf_gives(settings):
    settings.REPORT_THROTTLE_RATE = "1/min"
    through_both(URL, a_report(), REMOTE_ADDR="198.51.100.7")

    fast, drf = through_both(URL, a_report(), REMOTE_ADDR="198.51.100.7")

    assert fast == drf
    assert fast[0] == 429 and ("Retry-After", "60") in fast[1]


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"HTTP_ACCEPT": "text/html"}, 406),
        ({"HTTP_ACCEPT": "application/json; indent=2"}, 201),
        ({"CONTENT_TYPE": "application/json; charset=latin-1"}, 201),
        ({"CONTENT_TYPE": "text/plain"}, 415),
    ],
)
def test_requests_the_short_path_does_not_know_are_answered_by_drf(reporter, headers, status):
    body = a_report(description="café")
    content_type = headers.pop("CONTENT_TYPE", "application/json")
    encoding = "latin-1" if "latin-1" in content_type else "utf-8"
    content = json.dumps(body, ensure_ascii=False).encode(encoding)

    response = reporter.generic("POST", URL, content, content_type=content_type, **headers)

    assert response.status_code == status, response.content
    if status == 201:
        assert Report.objects.get(pk=body["id"]).description == "café"
    if "indent" in headers.get("HTTP_ACCEPT", ""):
        assert response.content.startswith(b'{\n  "id"')


# --- the shorter middleware chain -------------------------------------------------------


def test_the_short_chain_answers_as_the_whole_chain(settings, reporter):
    settings.REPORT_THROTTLE_RATE = "1000/min"  # not a test of the throttle
    short = [reporter.post(URL, raw(body), content_type="application/json") for body in REFUSED]
    body = a_report()
    stored = reporter.post(URL, body, format="json")
    replay = reporter.post(URL, body, format="json")
    host = reporter.post(URL, a_report(), format="json", HTTP_HOST="evil.example")
    settings.MIDDLEWARE = [m for m in django_settings.MIDDLEWARE if "IntakeMiddleware" not in m]
    whole = APIClient()

    expected = [whole.post(URL, raw(b), content_type="application/json") for b in REFUSED]

    assert [answer(r) for r in short] == [answer(r) for r in expected]
    assert answer(replay) == answer(whole.post(URL, body, format="json"))
    assert answer(host) == answer(
        whole.post(URL, a_report(), format="json", HTTP_HOST="evil.example")
    )
    assert host.status_code == 400
    assert stored.status_code == 201
    for header in ("X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options"):
        assert stored.has_header(header)


def test_a_report_sets_no_cookie_and_a_planner_still_lists_reports_with_a_session(
    reporter, force_planner
):
    response = reporter.post(URL, a_report(), format="json")
    planner = APIClient()
    planner.force_login(force_planner)

    listed = planner.get(URL)

    assert response.status_code == 201
    assert not response.cookies
    assert listed.status_code == 200, listed.content
    assert listed.json()["features"][0]["properties"]["area"] == "wm-south-worcestershire"


def test_the_planners_list_is_still_refused_to_anyone_else(reporter):
    assert reporter.get(URL).status_code == 401
    assert client_for(None).post(URL, a_report(), format="json").status_code == 201


# --- queries and Redis ------------------------------------------------------------------


def test_a_report_costs_one_query_and_a_replay_two(reporter, django_assert_num_queries):
    reporter.post(URL, a_report(), format="json")  # reads the areas, prepares the INSERT
    body = a_report()

    # 1. INSERT ... ON CONFLICT DO NOTHING RETURNING id (reports.services.INSERT_SQL).
    with django_assert_num_queries(1):
        assert reporter.post(URL, body, format="json").status_code == 201
    # 1. The same INSERT, which stores nothing; 2. the digest stored under the id.
    with django_assert_num_queries(2):
        assert reporter.post(URL, body, format="json").status_code == 200


def test_a_batch_costs_one_query(reporter, django_assert_num_queries):
    reporter.post(URL, a_report(), format="json")

    # 1. One INSERT for every report of the batch.
    with django_assert_num_queries(1):
        response = reporter.post(
            BATCH_URL, {"reports": [a_report() for _ in range(50)]}, format="json"
        )

    assert [r["status"] for r in response.json()["results"]] == ["created"] * 50


def test_with_redis_unreachable_a_report_is_located_by_the_database(reporter, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    request = RequestFactory().post(URL)

    admission = intake_admit(request)
    response = reporter.post(URL, a_report(), format="json")

    assert admission.allowed and admission.areas_version is None
    assert response.status_code == 201
    assert response.json()["area"]["code"] == "wm-south-worcestershire"


def test_the_point_is_stored_where_it_was_sent(reporter):
    body = a_report(location={"type": "Point", "coordinates": list(WORCESTER)})

    reporter.post(URL, body, format="json")

    report = Report.objects.get(pk=body["id"])
    assert (report.location.x, report.location.y) == WORCESTER
