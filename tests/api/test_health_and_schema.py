"""/healthz, the OpenAPI schema and the docs."""

import pytest
import yaml

pytestmark = pytest.mark.django_db


def test_healthz_is_200_with_both_states_when_both_answer(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "ok"}


def test_the_schema_is_openapi_3_and_documents_every_public_endpoint_and_error(client):
    response = client.get("/api/schema")

    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    assert set(paths["/api/v1/reports"]["post"]["responses"]) >= {
        "200", "201", "400", "409", "413", "415", "429", "503",
    }  # fmt: skip
    assert set(paths["/api/v1/reports/batch"]["post"]["responses"]) >= {"200", "400", "413"}
    assert set(paths["/api/v1/reports/{report_id}"]["delete"]["responses"]) >= {"204", "404"}
    assert "200" in paths["/api/v1/config"]["get"]["responses"]
    assert "503" in paths["/healthz"]["get"]["responses"]
    body = schema["components"]["schemas"]["ReportInputRequest"]["properties"]
    assert {"id", "location", "reasons", "feeling", "severity", "felt_at"} <= set(body)


def test_the_interactive_docs_render(client):
    response = client.get("/api/docs")

    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


def test_the_schema_validates_with_no_warnings(tmp_path):
    from django.core.management import call_command

    call_command("spectacular", validate=True, fail_on_warn=True, file=str(tmp_path / "s.yaml"))

    assert (tmp_path / "s.yaml").read_text().startswith("openapi: 3")
