"""reports.redaction.redact: what is taken out of free text before a planner reads it."""

import pytest

from reports.models import Report
from reports.redaction import redact
from tests.conftest import a_report

PHONE = "[phone number removed]"
EMAIL = "[email removed]"
POSTCODE = "[postcode removed]"
REGISTRATION = "[registration removed]"


@pytest.fixture(autouse=True)
def _unthrottled(settings):
    # Not a test of the throttle, whose counters live in a Redis that other test runs share.
    settings.REPORT_THROTTLE_RATE = "10000/min"


@pytest.mark.parametrize(
    "number",
    [
        "07700 900123",
        "07700900123",
        "07700-900-123",
        "+44 7700 900123",
        "+447700900123",
        "0044 7700 900123",
        "+44 (0)1905 123456",
        "01905 123456",
        "0121 496 0000",
        "0121-496-0000",
        "0800 555 111",
    ],
)
def test_it_removes_uk_phone_numbers(number):
    assert redact(f"He said call him on {number} tonight") == f"He said call him on {PHONE} tonight"


def test_it_removes_a_landline_with_its_area_code_in_brackets():
    assert redact("ring (01905) 123456.") == f"ring {PHONE}."
    assert redact("his number (07700 900123) again") == f"his number ({PHONE}) again"


@pytest.mark.parametrize(
    "address", ["jo.bloggs@example.com", "Jo.Bloggs+night@mail.example.co.uk", "x_y@a-b.org"]
)
def test_it_removes_email_addresses(address):
    assert redact(f"email {address} if you saw it") == f"email {EMAIL} if you saw it"


@pytest.mark.parametrize(
    "postcode", ["WR1 2AB", "WR12AB", "wr1 2ab", "wr12ab", "B1 1AA", "SW1A 1AA", "M60 1NW"]
)
def test_it_removes_full_postcodes_with_or_without_the_space_in_any_case(postcode):
    assert redact(f"outside {postcode} again") == f"outside {POSTCODE} again"


@pytest.mark.parametrize(
    "registration",
    [
        "AB12 CDE",  # current style
        "AB12CDE",
        "ab12 cde",
        "A123 BCD",  # prefix style
        "a123bcd",
        "ABC 123D",  # suffix style
        "abc123d",
    ],
)
def test_it_removes_vehicle_registrations(registration):
    assert redact(f"a white van {registration} parked") == f"a white van {REGISTRATION} parked"


@pytest.mark.parametrize(
    "text",
    [
        "It was about 10pm on 12/03/2024, maybe 10.30pm",
        "Fri 12.03.2024 at 22:30, and again on 1st March",
        "12 03 2024 22 30",
        "2 men followed me off the 144 bus",
        "waited for the X50 bus and the 144a",
        "walking from the A38 and the M5 junction 6 near the M6 9pm",
        "the A449 for 10m along the path, about 100 people",
        "Call 999 or 101 if it happens again",
        "Route 44 at 23:15, 3 lads on bikes",
    ],
)
def test_it_keeps_times_dates_bus_and_road_numbers_and_counts(text):
    assert redact(text) == text


def test_it_removes_each_kind_from_one_text():
    text = "Van AB12 CDE at WR1 2AB, driver gave 07700 900123 and bob@example.com, 10pm"

    assert redact(text) == (
        f"Van {REGISTRATION} at {POSTCODE}, driver gave {PHONE} and {EMAIL}, 10pm"
    )


@pytest.mark.django_db
@pytest.mark.usefixtures("west_mercia")
def test_it_stores_the_redacted_text_beside_the_original(reporter):
    body = a_report(description="Man in AB12 CDE asked for my number, 07700 900123, at 10pm")

    response = reporter.post("/api/v1/reports", body, format="json")

    assert response.status_code == 201, response.content
    report = Report.objects.get(pk=body["id"])
    assert report.description == body["description"]
    assert report.description_redacted == (
        f"Man in {REGISTRATION} asked for my number, {PHONE}, at 10pm"
    )
    assert report.text_state == Report.TextState.PENDING
