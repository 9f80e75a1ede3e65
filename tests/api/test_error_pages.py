"""A URL that matches nothing, and a fault on the server's side, answered in the API's error
shape under /api/ and /tiles/ (where clients read JSON), and as Django's pages elsewhere."""

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import path

from streetsafe.urls import urlpatterns as site_urlpatterns


def _fails(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug")


# The site's URLs and two that fail, for the server-error tests (pytest.mark.urls).
urlpatterns = [
    path("api/v1/fails", _fails),
    path("fails", _fails),
    *site_urlpatterns,
]
handler404 = "streetsafe.errors.not_found"
handler500 = "streetsafe.errors.server_error"


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/nothing",
        "/api/v1/interventions/null,null",
        "/api/v1/places/abc",
        "/tiles/reports/1/2.mvt",
    ],
)
def test_an_unknown_api_path_is_a_json_404_naming_it(url: str) -> None:
    response = Client().get(url)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": f"Nothing here: {url} is not a path of this API."}


def test_an_unknown_page_elsewhere_is_djangos_page() -> None:
    response = Client().get("/nothing-here")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.urls("tests.api.test_error_pages")
def test_a_server_fault_in_the_api_is_a_json_500_and_elsewhere_djangos_page() -> None:
    client = Client(raise_request_exception=False)

    api = client.get("/api/v1/fails")
    page = client.get("/fails")

    assert api.status_code == 500
    assert api.json()["detail"].startswith("Something went wrong on our side")
    assert "a bug" not in api.content.decode()
    assert page.status_code == 500
    assert page["Content-Type"].startswith("text/html")
