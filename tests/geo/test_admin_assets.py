"""Street lights and cameras in the admin: listed, filtered, searched, and edited by hand with
the projected point kept in step with the location."""

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from geo.assets import AssetFields, assets_import, assets_version
from geo.models import Camera, Organisation, Streetlight

ASSETS_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "assets"
LIGHTS = "/admin/geo/streetlight/"
CAMERAS = "/admin/geo/camera/"
# A light of the register, and a place about 150 m north-east of it.
BR_0008 = (-2.5978857369724513, 51.43456688415641)
MOVED = (-2.5962, 51.4356)

pytestmark = pytest.mark.django_db


@pytest.fixture
def register() -> None:
    """Six lights (BR-0002 and BR-0012 working, BR-0008 and BR-0010 faulty, ...) of Bristol
    City Council, and the 20 Sheffield cameras, 8 of them traffic ones, of no one."""
    council = Organisation.objects.create(name="Bristol City Council", slug="bristol")
    assets_import(
        kind="light",
        path=ASSETS_DIR / "streetlights_register.csv",
        id_field="unit_id",
        organisation=council,
        fields=AssetFields(label="street", working="status", wattage="wattage"),
    )
    assets_import(
        kind="camera",
        path=ASSETS_DIR / "sheffield_cctv.geojson",
        fields=AssetFields(label="location", kind="notes"),
    )


def listed(response: Any) -> list[str]:
    assert response.status_code == 200
    return sorted(asset.external_id for asset in response.context["cl"].result_list)


def projected_by_postgis(lonlat: tuple[float, float]) -> tuple[float, float]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_X(p), ST_Y(p)"
            " FROM ST_Transform(ST_SetSRID(ST_MakePoint(%s, %s), 4326), %s) AS p",
            [lonlat[0], lonlat[1], settings.ANALYSIS_SRID],
        )
        return cursor.fetchone()


@pytest.mark.usefixtures("register")
def test_lights_are_listed_filtered_by_working_and_owner_and_searched(
    admin_client: Client,
) -> None:
    council = Organisation.objects.get(slug="bristol")

    everything = admin_client.get(LIGHTS)
    faulty = admin_client.get(LIGHTS, {"working__exact": "0"})
    owned = admin_client.get(LIGHTS, {"organisation__id__exact": council.pk})
    found = admin_client.get(LIGHTS, {"q": "roundabout"})
    by_id = admin_client.get(LIGHTS, {"q": "BR-0012"})

    assert len(listed(everything)) == 6
    assert listed(faulty) == ["BR-0008", "BR-0010"]
    assert len(listed(owned)) == 6
    assert listed(found) == ["BR-0009"]
    assert listed(by_id) == ["BR-0012"]


@pytest.mark.usefixtures("register")
def test_cameras_are_filtered_by_kind(admin_client: Client) -> None:
    traffic = admin_client.get(CAMERAS, {"kind__exact": "traffic"})
    found = admin_client.get(CAMERAS, {"q": "Sheaf Street"})

    assert len(listed(traffic)) == 8
    assert len(listed(found)) == 1
    assert found.context["cl"].result_list[0].kind == "traffic"


@pytest.mark.usefixtures("register")
def test_moving_a_light_moves_its_projected_point_too(admin_client: Client) -> None:
    light = Streetlight.objects.get(external_id="BR-0008")
    page = admin_client.get(f"{LIGHTS}{light.pk}/change/")
    assert page.status_code == 200
    assert b"location_projected" not in page.content
    version = assets_version()
    form = {
        "external_id": "BR-0008",
        "organisation": light.organisation_id,
        "label": "Hartcliffe Way",
        "lamp_type": "LED",
        "wattage": "35",
        "working": "on",
        "location": f"SRID=4326;POINT({MOVED[0]} {MOVED[1]})",
    }

    response = admin_client.post(f"{LIGHTS}{light.pk}/change/", form)

    assert response.status_code == 302, response.content.decode()[:3000]
    light.refresh_from_db()
    assert (light.location.x, light.location.y) == pytest.approx(MOVED, abs=1e-9)
    assert (light.location_projected.x, light.location_projected.y) == pytest.approx(
        projected_by_postgis(MOVED), abs=1e-3
    )
    assert (light.lamp_type, light.wattage, light.working) == ("LED", 35, True)
    assert assets_version() > version


def test_a_camera_added_by_hand_is_projected(admin_client: Client) -> None:
    form = {
        "external_id": "new-1",
        "organisation": "",
        "label": "Peace Gardens",
        "kind": "public_space",
        "range_m": "80",
        "working": "on",
        "location": "SRID=4326;POINT(-1.4705 53.3802)",
    }

    response = admin_client.post(f"{CAMERAS}add/", form)

    assert response.status_code == 302, response.content.decode()[:3000]
    camera = Camera.objects.get(external_id="new-1")
    assert (camera.location_projected.x, camera.location_projected.y) == pytest.approx(
        projected_by_postgis((-1.4705, 53.3802)), abs=1e-3
    )
    # The same id again for the same owner is refused, naming the clash.
    again = admin_client.post(f"{CAMERAS}add/", form)
    assert again.status_code == 200
    assert Camera.objects.filter(external_id="new-1").count() == 1
    assert b"already exists" in again.content
