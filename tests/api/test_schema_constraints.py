"""The OpenAPI schema states the rules the API enforces on its parameters, taken from the
constants the parsers use, and the parsers agree with it at its edges: a client built from
the schema sends no value that the API refuses for a rule a schema can state.

Rules that join two parameters (since before until, a box's minimum below its maximum, a
budget of at least one unit cost, a tile's x and y under 2^z) are only described.
"""

import re
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import override_settings
from rest_framework.exceptions import ValidationError
from rest_framework.fields import FloatField

from geo.apis import LARGEST_PAGE_NUMBER
from geo.coverage import Need
from geo.evidence_apis import EvidenceQuerySerializer
from geo.filters import parse_layer_filters
from geo.hotspots.aggregate import BANDS
from geo.intervention_apis import PUBLIC_MAX_PAGE_SIZE
from geo.models import Camera, HotspotCell, Intervention
from geo.priorities import FORMATS, RADIUS_RANGE, priority_question
from geo.tiles import MAX_ZOOM, tile_errors
from reports.reasons import REASON_CODES
from tests.cast import client_for

pytestmark = pytest.mark.django_db

TILES = [
    f"/tiles/{layer}/{{z}}/{{x}}/{{y}}.mvt"
    for layer in (
        "hotspots",
        "reports",
        "places",
        "public-hotspots",
        "streetlights",
        "cameras",
        "coverage-gaps",
        "interventions",
    )
]
PAGED = ["/api/v1/reports", "/api/v1/streetlights", "/api/v1/cameras", "/api/v1/interventions"]
LISTS_OF_REPORTS = ["/api/v1/hotspots", "/api/v1/reports", "/tiles/hotspots/{z}/{x}/{y}.mvt"]
WITH_RESOLUTION = [
    "/api/v1/hotspots",
    "/api/v1/coverage-gaps",
    "/tiles/hotspots/{z}/{x}/{y}.mvt",
    "/tiles/coverage-gaps/{z}/{x}/{y}.mvt",
]
WITH_BBOX = [
    "/api/v1/hotspots",
    "/api/v1/places",
    "/api/v1/reports",
    "/api/v1/public/hotspots",
    "/api/v1/streetlights",
    "/api/v1/cameras",
    "/api/v1/coverage-gaps",
    "/api/v1/interventions",
    *TILES,
]
POSITIVE = {"minimum": 0, "exclusiveMinimum": True}


def schema_get(client: Any) -> dict[str, Any]:
    # `format` is an ordinary query parameter here (URL_FORMAT_OVERRIDE is off): the Accept
    # header asks for JSON.
    response = client.get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def schema(client: Any) -> dict[str, Any]:
    return schema_get(client)


def parameters(schema: dict[str, Any], path: str, method: str = "get") -> dict[str, dict[str, Any]]:
    return {found["name"]: found for found in schema["paths"][path][method]["parameters"]}


def accepts(params: dict[str, str], allowed: tuple[str, ...]) -> bool:
    try:
        parse_layer_filters(params, allowed=allowed)
    except ValidationError:
        return False
    return True


# Tiles


@pytest.mark.parametrize("path", TILES)
def test_a_tile_s_z_runs_to_max_zoom_and_its_x_and_y_to_the_last_tile_at_that_zoom(
    schema: dict[str, Any], path: str
) -> None:
    found = parameters(schema, path)

    assert found["z"]["schema"] == {"type": "integer", "minimum": 0, "maximum": MAX_ZOOM}
    for name in ("x", "y"):
        assert found[name]["schema"] == {
            "type": "integer",
            "minimum": 0,
            "maximum": (1 << MAX_ZOOM) - 1,
        }


def test_the_tile_parser_takes_the_documented_edges_and_nothing_past_them() -> None:
    last = str((1 << MAX_ZOOM) - 1)

    assert tile_errors(str(MAX_ZOOM), last, last)[1] == {}
    assert tile_errors("0", "0", "0")[1] == {}
    assert set(tile_errors(str(MAX_ZOOM + 1), "0", "0")[1]) == {"z"}
    assert set(tile_errors(str(MAX_ZOOM), str(1 << MAX_ZOOM), "0")[1]) == {"x"}


# The layer filters


@pytest.mark.parametrize("path", WITH_RESOLUTION)
def test_resolution_is_one_of_the_configured_resolutions(schema: dict[str, Any], path: str) -> None:
    found = parameters(schema, path)["resolution"]["schema"]

    assert found["type"] == "integer"
    assert sorted(found["enum"]) == sorted(settings.HOTSPOT_RESOLUTIONS)
    for resolution in found["enum"]:
        assert accepts({"resolution": str(resolution)}, ("resolution",))


def test_resolution_follows_the_settings_when_the_schema_is_generated(client: Any) -> None:
    with override_settings(HOTSPOT_RESOLUTIONS=[100, 400, 1600]):
        schema = schema_get(client)

    found = parameters(schema, "/api/v1/hotspots")["resolution"]["schema"]
    assert sorted(found["enum"]) == [100, 400, 1600]


@pytest.mark.parametrize("path", LISTS_OF_REPORTS)
def test_time_band_is_one_of_the_bands_and_dates_are_dates_or_date_times(
    schema: dict[str, Any], path: str
) -> None:
    found = parameters(schema, path)

    assert found["time_band"]["schema"]["enum"] == sorted(BANDS)
    for name in ("since", "until"):
        assert found[name]["schema"] == {
            "anyOf": [
                {"type": "string", "format": "date"},
                {"type": "string", "format": "date-time"},
            ]
        }


@pytest.mark.parametrize(
    ("path", "name", "values"),
    [
        ("/api/v1/hotspots", "reasons", REASON_CODES),
        ("/api/v1/reports", "reasons", REASON_CODES),
        ("/tiles/reports/{z}/{x}/{y}.mvt", "reasons", REASON_CODES),
        ("/api/v1/hotspots", "class", [str(v) for v in HotspotCell.Class.values] + ["hot", "cold"]),
        ("/api/v1/cameras", "kind", Camera.Kind.values),
        ("/api/v1/interventions", "kind", Intervention.Kind.values),
        ("/api/v1/areas/{code}/evidence", "intervention", [need.value for need in Need]),
    ],
)
def test_a_listed_parameter_is_a_comma_separated_list_of_the_known_values(
    schema: dict[str, Any], path: str, name: str, values: list[str]
) -> None:
    found = parameters(schema, path)[name]

    assert (found["style"], found["explode"]) == ("form", False)
    assert found["schema"]["type"] == "array"
    assert sorted(found["schema"]["items"]["enum"]) == sorted(values)


@pytest.mark.parametrize("name", ["reasons", "class"])
def test_the_filter_parser_takes_every_documented_value_of_a_list_at_once(
    schema: dict[str, Any], name: str
) -> None:
    values = parameters(schema, "/api/v1/hotspots")[name]["schema"]["items"]["enum"]

    assert accepts({name: ",".join(values)}, (name,))
    assert not accepts({name: "not-one-of-them"}, (name,))


@pytest.mark.parametrize("path", WITH_BBOX)
def test_in_bbox_has_the_pattern_of_four_corners_in_range(
    schema: dict[str, Any], path: str
) -> None:
    found = parameters(schema, path)["in_bbox"]

    assert found["schema"]["type"] == "string"
    assert re.search(found["schema"]["pattern"], "-2.80,52.68,-2.72,52.73")
    assert "min lon,min lat,max lon,max lat" in found["description"]


@pytest.mark.parametrize(
    "box",
    [
        "-180,-90,180,90",
        "-180.0,-90.00,180.000,90.0",
        "-2.80,52.68,-2.72,52.73",
        "0,0,0.5,0.5",
        "-0.5,-0.5,0,0",
        "99.9,9,179.999,89.99",
    ],
)
def test_every_box_the_pattern_admits_in_order_is_read(schema: dict[str, Any], box: str) -> None:
    pattern = parameters(schema, "/api/v1/hotspots")["in_bbox"]["schema"]["pattern"]

    assert re.search(pattern, box)
    assert accepts({"in_bbox": box}, ("in_bbox",))


@pytest.mark.parametrize(
    "box",
    [
        "-180.5,-90,180,90",
        "-181,0,1,1",
        "0,0,181,1",
        "0,-91,1,1",
        "0,0,1,90.01",
        "1,2,3",
        "1,2,3,4,5",
        "a,b,c,d",
        "nan,0,1,1",
    ],
)
def test_a_box_out_of_range_or_malformed_is_refused_by_both(
    schema: dict[str, Any], box: str
) -> None:
    pattern = parameters(schema, "/api/v1/hotspots")["in_bbox"]["schema"]["pattern"]

    assert not re.search(pattern, box)
    assert not accepts({"in_bbox": box}, ("in_bbox",))


# Priorities and the evidence pack


def test_priorities_take_amounts_above_0_and_a_radius_in_its_range(
    schema: dict[str, Any],
) -> None:
    found = parameters(schema, "/api/v1/priorities")

    assert found["budget"]["required"] is True
    assert found["budget"]["schema"] == {"type": "number", **POSITIVE}
    assert found["unit_cost"]["schema"] == {"type": "number", **POSITIVE}
    low, high = RADIUS_RANGE
    assert found["radius"]["schema"] == {"type": "integer", "minimum": low, "maximum": high}
    assert found["intervention"]["required"] is True
    assert found["intervention"]["schema"]["enum"] == sorted(need.value for need in Need)
    assert found["format"]["schema"]["enum"] == sorted(FORMATS)
    result = parameters(schema, "/api/v1/priorities/runs/{run_id}/result")
    assert result["format"]["schema"]["enum"] == sorted(FORMATS)


@pytest.mark.parametrize(
    ("changes", "faulty"),
    [
        ({}, None),
        ({"radius": str(RADIUS_RANGE[0])}, None),
        ({"radius": str(RADIUS_RANGE[1])}, None),
        ({"radius": str(RADIUS_RANGE[0] - 1)}, "radius"),
        ({"radius": str(RADIUS_RANGE[1] + 1)}, "radius"),
        ({"budget": "0.5", "unit_cost": "0.5"}, None),
        ({"budget": "0"}, "budget"),
        ({"unit_cost": "0"}, "unit_cost"),
    ],
)
def test_the_priority_parser_takes_the_documented_edges_and_nothing_past_them(
    changes: dict[str, str], faulty: str | None
) -> None:
    params = {"intervention": "lighting", "budget": "100000", **changes}

    try:
        priority_question(params, area_ids=[])
    except ValidationError as error:
        assert faulty is not None, error.detail
        assert list(error.detail) == [faulty]
    else:
        assert faulty is None


def test_the_evidence_pack_documents_the_least_amounts_its_serializer_takes(
    schema: dict[str, Any],
) -> None:
    found = parameters(schema, "/api/v1/areas/{code}/evidence")
    fields = EvidenceQuerySerializer().fields

    for name in ("budget", "unit_cost"):
        field = fields[name]
        assert isinstance(field, FloatField)
        assert found[name]["schema"]["type"] == "number"
        assert found[name]["schema"]["minimum"] == field.min_value == 1
    assert found["format"]["schema"]["enum"] == ["html", "pdf"]


# Paging


@pytest.mark.parametrize("path", PAGED)
def test_page_and_page_size_are_whole_numbers_of_at_most_nine_digits(
    schema: dict[str, Any], path: str
) -> None:
    found = parameters(schema, path)

    for name in ("page", "page_size"):
        assert found[name]["schema"] == {
            "type": "integer",
            "minimum": 1,
            "maximum": LARGEST_PAGE_NUMBER,
        }
    assert "404" in schema["paths"][path]["get"]["responses"]


@pytest.mark.usefixtures("west_mercia")
def test_the_largest_documented_page_size_is_read_and_one_digit_more_is_not(
    force_planner: User,
) -> None:
    client = client_for(force_planner)

    too_long = client.get("/api/v1/streetlights", {"page_size": str(LARGEST_PAGE_NUMBER + 1)})
    assert too_long.status_code == 400
    assert list(too_long.json()["errors"]) == ["page_size"]
    assert (
        client.get("/api/v1/streetlights", {"page_size": str(LARGEST_PAGE_NUMBER)}).status_code
        == 200
    )


def test_the_public_actions_page_size_runs_to_its_most(schema: dict[str, Any], client: Any) -> None:
    found = parameters(schema, "/api/v1/public/actions")

    assert found["page"]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": LARGEST_PAGE_NUMBER,
    }
    assert found["page_size"]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": PUBLIC_MAX_PAGE_SIZE,
    }
    past = client.get("/api/v1/public/actions", {"page_size": PUBLIC_MAX_PAGE_SIZE + 1})
    assert past.status_code == 400
    assert list(past.json()["errors"]) == ["page_size"]
    assert (
        client.get("/api/v1/public/actions", {"page_size": PUBLIC_MAX_PAGE_SIZE}).status_code == 200
    )


# Erasing a report


def test_erasing_a_report_requires_a_non_blank_x_receipt_header(schema: dict[str, Any]) -> None:
    found = parameters(schema, "/api/v1/reports/{report_id}", "delete")

    receipt = found["X-Receipt"]
    assert (receipt["in"], receipt["required"]) == ("header", True)
    assert receipt["schema"] == {"type": "string", "pattern": r"\S"}
    assert found["report_id"]["schema"] == {"type": "string", "format": "uuid"}


def test_a_blank_receipt_is_refused_as_a_missing_one(reporter: Any) -> None:
    url = "/api/v1/reports/0d6f6f0e-4b5b-4c55-9d3a-2a4f4f1f0c11"

    blank = reporter.delete(url, HTTP_X_RECEIPT="  ")
    assert blank.status_code == 400
    assert list(blank.json()["errors"]) == ["X-Receipt"]
    assert reporter.delete(url, HTTP_X_RECEIPT="a-receipt").status_code == 404
