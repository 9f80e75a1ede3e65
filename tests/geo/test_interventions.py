"""Recording interventions through the API, who sees and changes them, their evaluation
endpoint, and the admin.

The cast: Shropshire Council's planner (the Shropshire policing area only) and West
Mercia Police's force-wide planner (every policing area, Shropshire's included).
"""

import dataclasses
import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection

from geo.evaluation import Evaluation, intervention_evaluate
from geo.interventions import placement
from geo.management.commands.load_west_mercia import FORCE_CODE
from geo.models import Area, Camera, Intervention, Streetlight
from tests.cast import client_for, planner_make
from tests.fixtures.points import LONDON, SHREWSBURY, TELFORD, WORCESTER

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("west_mercia")]

URL = "/api/v1/interventions"
TODAY = dt.date.today()


def point(lonlat: tuple[float, float]) -> dict[str, Any]:
    return {"type": "Point", "coordinates": list(lonlat)}


def a_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "new_light",
        "location": point(SHREWSBURY),
        "date": "2026-03-14",
        "cost": 4200,
        "note": "Column 14 on the riverside path",
    }
    body.update(overrides)
    return {name: value for name, value in body.items() if value is not ...}


def post(user: User | None, body: Any) -> Any:
    return client_for(user).post(URL, body, format="json")


def created(user: User, **overrides: Any) -> dict[str, Any]:
    response = post(user, a_body(**overrides))
    assert response.status_code == 201, response.content
    return response.json()


def an_asset(model: type[Streetlight] | type[Camera], lonlat: tuple[float, float]) -> Any:
    place = placement(longitude=lonlat[0], latitude=lonlat[1])
    return model.objects.create(
        external_id=f"{model.__name__}-{lonlat}",
        location=place.location,
        location_projected=place.location_projected,
    )


def projected_by_postgis(lonlat: tuple[float, float]) -> tuple[float, float]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_X(p), ST_Y(p) FROM ST_Transform(ST_SetSRID(ST_MakePoint(%s, %s), 4326), %s)"
            " AS p",
            [lonlat[0], lonlat[1], settings.ANALYSIS_SRID],
        )
        return cursor.fetchone()


# Recording one


def test_a_planner_records_an_intervention_at_a_point(shropshire_planner):
    body = created(shropshire_planner)

    assert body["type"] == "Feature"
    assert body["geometry"] == point(SHREWSBURY)
    props = body["properties"]
    assert props["kind"] == "new_light"
    assert props["kind_label"] == "New street light"
    assert props["status"] == "completed"
    assert props["date"] == "2026-03-14"
    assert props["radius_m"] == settings.INTERVENTION_RADIUS_M == 100
    assert props["cost"] == 4200.0
    assert props["organisation"] == "Shropshire Council"
    assert props["area"] == "wm-shropshire"
    assert props["area_name"] == "Shropshire"
    assert props["streetlight"] is None and props["camera"] is None
    assert props["can_change"] is True
    stored = Intervention.objects.get(pk=body["id"])
    assert stored.created_by == shropshire_planner
    assert stored.organisation.name == "Shropshire Council"
    assert stored.area is not None and stored.area.code == "wm-shropshire"
    assert stored.cost == Decimal("4200.00")
    # The projected point is PostGIS's, as for reports, so distances agree with theirs.
    assert (stored.location_projected.x, stored.location_projected.y) == pytest.approx(
        projected_by_postgis(SHREWSBURY), abs=1e-6
    )
    assert stored.location_projected.srid == settings.ANALYSIS_SRID


def test_a_radius_may_be_given_and_a_date_ahead_is_planned(shropshire_planner):
    ahead = (TODAY + dt.timedelta(days=40)).isoformat()
    props = created(shropshire_planner, radius_m=250, date=ahead, cost=None)["properties"]

    assert props["radius_m"] == 250
    assert props["status"] == "planned"
    assert props["cost"] is None


def test_a_planner_records_a_repaired_light_by_its_id(shropshire_planner):
    light = an_asset(Streetlight, (SHREWSBURY[0] + 0.001, SHREWSBURY[1]))

    body = created(shropshire_planner, kind="light_repaired", location=..., streetlight=light.pk)

    assert body["geometry"]["coordinates"] == pytest.approx([light.location.x, light.location.y])
    assert body["properties"]["streetlight"] == light.pk
    stored = Intervention.objects.get(pk=body["id"])
    assert stored.streetlight == light
    assert stored.location_projected.distance(light.location_projected) < 1e-6


def test_a_planner_records_a_new_camera_by_its_id(shropshire_planner):
    camera = an_asset(Camera, SHREWSBURY)

    body = created(shropshire_planner, kind="new_camera", location=..., camera=camera.pk)

    assert body["properties"]["camera"] == camera.pk
    assert body["properties"]["area"] == "wm-shropshire"


def test_every_bad_input_is_a_400_naming_the_field_and_stores_nothing(
    shropshire_planner, force_planner
):
    shrewsbury_light = an_asset(Streetlight, SHREWSBURY)
    worcester_light = an_asset(Streetlight, WORCESTER)
    camera = an_asset(Camera, SHREWSBURY)
    too_late = (TODAY + dt.timedelta(days=6 * 366)).isoformat()
    cases: list[tuple[Any, str]] = [
        (a_body(kind=...), "kind"),
        (a_body(kind="streetlamp"), "kind"),
        (a_body(location=...), "location"),
        (a_body(location={"type": "Polygon", "coordinates": []}), "location"),
        (a_body(location={"type": "Point", "coordinates": [1]}), "location"),
        (a_body(location={"type": "Point", "coordinates": ["a", "b"]}), "location"),
        (a_body(location={"type": "Point", "coordinates": [True, 52]}), "location"),
        (a_body(location=[-2.75, 52.7]), "location"),
        (a_body(location=point((-2.75, 152.7))), "location"),
        (a_body(location=point(LONDON)), "location"),
        # Worcester is West Mercia's, but not the council's.
        (a_body(location=point(WORCESTER)), "location"),
        (a_body(streetlight=shrewsbury_light.pk), "location"),
        (a_body(location=..., streetlight=shrewsbury_light.pk, camera=camera.pk), "camera"),
        (a_body(location=..., streetlight=10**9), "streetlight"),
        (a_body(location=..., streetlight=2**70), "streetlight"),
        (a_body(location=..., streetlight="one"), "streetlight"),
        (a_body(location=..., streetlight=worcester_light.pk), "streetlight"),
        (a_body(location=..., kind="new_camera", streetlight=shrewsbury_light.pk), "streetlight"),
        (a_body(location=..., kind="new_light", camera=camera.pk), "camera"),
        (a_body(date=...), "date"),
        (a_body(date="14/03/2026"), "date"),
        (a_body(date="2026-02-30"), "date"),
        (a_body(date="1890-01-01"), "date"),
        (a_body(date=too_late), "date"),
        (a_body(radius_m=0), "radius_m"),
        (a_body(radius_m=settings.INTERVENTION_MAX_RADIUS_M + 1), "radius_m"),
        (a_body(radius_m="wide"), "radius_m"),
        (a_body(cost=-1), "cost"),
        (a_body(cost="lots"), "cost"),
        (a_body(cost=12.345), "cost"),
        (a_body(cost=10**12), "cost"),
        (a_body(note="x" * 2001), "note"),
        (a_body(organisation=1), "organisation"),
        (a_body(area="wm-shropshire"), "area"),
        ([a_body()], "body"),
    ]

    for body, field in cases:
        response = post(shropshire_planner, body)
        assert response.status_code == 400, (body, response.content)
        assert response.json()["detail"] == "Invalid input."
        assert list(response.json()["errors"]) == [field], (body, response.json())
    assert not Intervention.objects.exists()

    # The same light, with a kind that goes with it, in the council's area: stored.
    stored = post(shropshire_planner, a_body(location=..., streetlight=shrewsbury_light.pk))
    assert stored.status_code == 201, stored.content
    assert Intervention.objects.count() == 1
    # And the force may place one in Worcester, which the council may not.
    assert post(force_planner, a_body(location=point(WORCESTER))).status_code == 201


def test_non_finite_coordinates_are_refused_by_name(shropshire_planner):
    response = client_for(shropshire_planner).post(
        URL,
        '{"kind": "new_light", "date": "2026-03-14", '
        '"location": {"type": "Point", "coordinates": [NaN, 52.7]}}',
        content_type="application/json",
    )

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["location"]


def test_a_body_that_is_not_json_is_a_400(shropshire_planner):
    response = client_for(shropshire_planner).post(
        URL, "{not json", content_type="application/json"
    )

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["body"]


# Who may do what


def every_call(intervention_id: int) -> list[tuple[str, str, Any]]:
    one = f"{URL}/{intervention_id}"
    return [
        ("get", URL, None),
        ("post", URL, a_body()),
        ("get", one, None),
        ("patch", one, {"note": "changed"}),
        ("delete", one, None),
        ("get", f"{one}/evaluation", None),
    ]


def call(user: User | None, method: str, url: str, body: Any = None) -> Any:
    client = client_for(user)
    if body is None:
        return getattr(client, method)(url)
    return getattr(client, method)(url, body, format="json")


def test_anonymous_requests_are_refused_with_401(shropshire_planner):
    mine = created(shropshire_planner)["id"]

    for method, url, body in every_call(mine):
        response = call(None, method, url, body)
        assert response.status_code == 401, (method, url)
        assert response["WWW-Authenticate"] == "Token"
    assert Intervention.objects.get().note == "Column 14 on the riverside path"


def test_a_user_who_is_not_a_planner_is_refused_with_403(shropshire_planner, shropshire_council):
    mine = created(shropshire_planner)["id"]
    outsider = planner_make("not-in-group", shropshire_council, in_group=False)

    for method, url, body in every_call(mine):
        response = call(outsider, method, url, body)
        assert response.status_code == 403, (method, url)
        assert response.json() == {"detail": "Only a planner of an organisation may do this."}
    assert Intervention.objects.count() == 1


def test_the_force_sees_the_councils_intervention_but_may_not_change_it(
    shropshire_planner, force_planner
):
    mine = created(shropshire_planner)["id"]

    listed = call(force_planner, "get", URL).json()
    one = call(force_planner, "get", f"{URL}/{mine}")
    patched = call(force_planner, "patch", f"{URL}/{mine}", {"note": "ours now"})
    deleted = call(force_planner, "delete", f"{URL}/{mine}")

    assert [f["id"] for f in listed["features"]] == [mine]
    assert listed["features"][0]["properties"]["can_change"] is False
    assert one.status_code == 200
    assert one.json()["properties"]["organisation"] == "Shropshire Council"
    assert patched.status_code == deleted.status_code == 403
    assert patched.json() == {
        "detail": "Only planners of Shropshire Council may change this intervention."
    }
    assert deleted.json() == {
        "detail": "Only planners of Shropshire Council may delete this intervention."
    }
    assert Intervention.objects.get().note == "Column 14 on the riverside path"
    assert call(force_planner, "get", f"{URL}/{mine}/evaluation").status_code == 200


def test_the_council_sees_nothing_of_the_forces_intervention_elsewhere(
    shropshire_planner, force_planner
):
    theirs = created(force_planner, location=point(WORCESTER))["id"]
    in_shropshire = created(force_planner)["id"]

    listed = call(shropshire_planner, "get", URL).json()

    # The force's work in Shropshire is on the council's streets: the council sees it.
    assert [f["id"] for f in listed["features"]] == [in_shropshire]
    assert listed["count"] == 1
    for method, url, body in every_call(theirs)[2:]:
        response = call(shropshire_planner, method, url, body)
        assert response.status_code == 404, (method, url)
        assert response.json() == {"detail": "No intervention with this id that you can see."}
    unknown = call(shropshire_planner, "get", f"{URL}/{10**9}")
    huge = call(shropshire_planner, "get", f"{URL}/{2**70}")
    assert unknown.status_code == huge.status_code == 404
    assert Intervention.objects.filter(pk=theirs).exists()


def test_an_organisations_own_intervention_stays_visible_when_its_areas_change(
    shropshire_planner, shropshire_council
):
    mine = created(shropshire_planner)["id"]
    shropshire_council.areas.set(Area.objects.filter(code="wm-telford-wrekin"))

    assert call(shropshire_planner, "get", f"{URL}/{mine}").status_code == 200
    moved = call(shropshire_planner, "patch", f"{URL}/{mine}", {"location": point(SHREWSBURY)})
    assert moved.status_code == 400
    assert list(moved.json()["errors"]) == ["location"]
    assert call(shropshire_planner, "patch", f"{URL}/{mine}", {"note": "x"}).status_code == 200


# Changing and deleting


def test_the_owner_changes_the_fields_given_and_nothing_else(shropshire_planner):
    mine = created(shropshire_planner)
    url = f"{URL}/{mine['id']}"

    response = call(shropshire_planner, "patch", url, {"cost": "3999.50", "note": "Done early"})

    assert response.status_code == 200, response.content
    props = response.json()["properties"]
    assert props["cost"] == 3999.5 and props["note"] == "Done early"
    assert props["date"] == "2026-03-14" and props["kind"] == "new_light"
    stored = Intervention.objects.get()
    assert (stored.cost, stored.note) == (Decimal("3999.50"), "Done early")


def test_moving_an_intervention_moves_its_projected_point_and_area(force_planner):
    light = an_asset(Streetlight, SHREWSBURY)
    mine = created(force_planner, location=..., streetlight=light.pk)
    url = f"{URL}/{mine['id']}"

    response = call(force_planner, "patch", url, {"location": point(TELFORD)})

    assert response.status_code == 200, response.content
    props = response.json()["properties"]
    assert props["area"] == "wm-telford-wrekin"
    # A new point is no longer the light's.
    assert props["streetlight"] is None
    stored = Intervention.objects.get()
    assert (stored.location_projected.x, stored.location_projected.y) == pytest.approx(
        projected_by_postgis(TELFORD), abs=1e-6
    )


def test_a_change_is_checked_as_a_whole_and_a_bad_one_changes_nothing(shropshire_planner):
    light = an_asset(Streetlight, SHREWSBURY)
    mine = created(shropshire_planner, location=..., streetlight=light.pk)
    url = f"{URL}/{mine['id']}"
    cases = [
        ({"kind": "new_camera"}, "kind"),
        ({"location": point(WORCESTER)}, "location"),
        ({"location": None}, "location"),
        ({"date": None}, "date"),
        ({"radius_m": -5}, "radius_m"),
        ({"cost": -0.01}, "cost"),
        ({"organisation": 2}, "organisation"),
    ]

    for body, field in cases:
        response = call(shropshire_planner, "patch", url, body)
        assert response.status_code == 400, body
        assert list(response.json()["errors"]) == [field], (body, response.json())
    stored = Intervention.objects.select_related("area").get()
    assert (stored.kind, stored.streetlight_id, stored.area_id) == (
        "new_light",
        light.pk,
        Area.objects.get(code="wm-shropshire").pk,
    )

    # Unlinked from the light, it may be of another kind, and stays where it was.
    response = call(shropshire_planner, "patch", url, {"kind": "other", "streetlight": None})
    assert response.status_code == 200, response.content
    assert response.json()["geometry"] == mine["geometry"]
    assert Intervention.objects.get().streetlight is None


def test_the_owner_deletes_an_intervention(shropshire_planner):
    mine = created(shropshire_planner)["id"]

    response = call(shropshire_planner, "delete", f"{URL}/{mine}")

    assert response.status_code == 204
    assert not Intervention.objects.exists()
    assert call(shropshire_planner, "get", f"{URL}/{mine}").status_code == 404


# The list


def test_the_list_filters_by_kind_dates_area_and_box(force_planner):
    light = created(force_planner, date="2025-06-01")["id"]
    camera = created(force_planner, kind="new_camera", date="2026-01-10")["id"]
    worcester = created(
        force_planner, kind="vegetation_cleared", location=point(WORCESTER), date="2026-02-01"
    )["id"]

    def ids(**params: str) -> list[int]:
        response = client_for(force_planner).get(URL, params)
        assert response.status_code == 200, response.content
        return [feature["id"] for feature in response.json()["features"]]

    assert ids() == [worcester, camera, light]
    assert ids(kind="new_camera") == [camera]
    assert ids(kind="new_light,new_camera") == [camera, light]
    assert ids(since="2026-01-10") == [worcester, camera]
    assert ids(until="2026-01-10") == [camera, light]
    assert ids(since="2025-07-01", until="2026-01-31") == [camera]
    assert ids(area="wm-south-worcestershire") == [worcester]
    # The force area holds all three.
    assert ids(area=FORCE_CODE) == [worcester, camera, light]
    box = f"{WORCESTER[0] - 0.01},{WORCESTER[1] - 0.01},{WORCESTER[0] + 0.01},{WORCESTER[1] + 0.01}"
    assert ids(in_bbox=box) == [worcester]
    assert ids(page_size="2") == [worcester, camera]
    assert ids(page_size="2", page="2") == [light]


def test_bad_list_filters_are_a_400_naming_each(shropshire_planner):
    cases = [
        ({"kind": "streetlamp"}, ["kind"]),
        ({"since": "last year"}, ["since"]),
        ({"until": "2026-02-30"}, ["until"]),
        ({"since": "2026-03-01", "until": "2026-02-01"}, ["until"]),
        ({"area": "wm-south-worcestershire"}, ["area"]),
        ({"in_bbox": "1,2,3"}, ["in_bbox"]),
        ({"kind": "x", "in_bbox": "1,2,3"}, ["in_bbox", "kind"]),
    ]

    for params, fields in cases:
        response = client_for(shropshire_planner).get(URL, params)
        assert response.status_code == 400, params
        assert sorted(response.json()["errors"]) == fields, params


def test_the_list_takes_a_pinned_number_of_queries(shropshire_planner, django_assert_num_queries):
    for _ in range(3):
        created(shropshire_planner)
    client = client_for(shropshire_planner)
    client.get(URL)  # the organisation's areas are cached from here on

    # 1. the token and its user; 2. the planner's organisation; 3. the count for the page;
    # 4. the page with its areas and organisations.
    with django_assert_num_queries(4):
        response = client.get(URL)
    assert len(response.json()["features"]) == 3


# The evaluation


def test_the_evaluation_endpoint_returns_the_services_evaluation(force_planner):
    mine = created(force_planner, date="2025-06-01")["id"]

    response = call(force_planner, "get", f"{URL}/{mine}/evaluation")

    assert response.status_code == 200
    expected = intervention_evaluate(Intervention.objects.get(pk=mine)).as_dict()
    assert response.json() == json.loads(json.dumps(expected))
    assert response.json()["insufficient"] == "too_few_reports"
    assert response.json()["rate_ratio"] is None


# The schema


def test_the_endpoints_are_in_the_openapi_schema():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)

    paths = schema["paths"]
    assert set(paths["/api/v1/interventions"]) == {"get", "post"}
    assert set(paths["/api/v1/interventions/{intervention_id}"]) == {"get", "patch", "delete"}
    assert {"400", "401", "403"} <= set(paths["/api/v1/interventions"]["post"]["responses"])
    assert {"400", "401", "403", "404"} <= set(
        paths["/api/v1/interventions/{intervention_id}"]["patch"]["responses"]
    )
    evaluation = paths["/api/v1/interventions/{intervention_id}/evaluation"]["get"]
    assert {"200", "401", "403", "404"} <= set(evaluation["responses"])
    documented = schema["components"]["schemas"]["Evaluation"]["properties"]
    assert set(documented) == {field.name for field in dataclasses.fields(Evaluation)}


# The admin


def test_the_admin_records_an_intervention_with_its_projected_point_and_area(
    admin_client, shropshire_council
):
    form = {
        "organisation": shropshire_council.pk,
        "kind": "new_light",
        "date": "2026-03-14",
        "location": f"SRID=4326;POINT({SHREWSBURY[0]} {SHREWSBURY[1]})",
        "radius_m": "",
        "cost": "1200",
        "note": "",
    }

    response = admin_client.post("/admin/geo/intervention/add/", form)

    assert response.status_code == 302, response.content.decode()[:3000]
    stored = Intervention.objects.get()
    assert stored.area is not None and stored.area.code == "wm-shropshire"
    assert stored.radius_m == settings.INTERVENTION_RADIUS_M
    assert (stored.location_projected.x, stored.location_projected.y) == pytest.approx(
        projected_by_postgis(SHREWSBURY), abs=1e-3
    )
    assert stored.created_by is not None

    # Moved to Telford, it is in Telford's policing area and projected there.
    form["location"] = f"SRID=4326;POINT({TELFORD[0]} {TELFORD[1]})"
    form["radius_m"] = "150"
    response = admin_client.post(f"/admin/geo/intervention/{stored.pk}/change/", form)
    assert response.status_code == 302
    stored.refresh_from_db()
    assert stored.area is not None and stored.area.code == "wm-telford-wrekin"
    assert (stored.location_projected.x, stored.location_projected.y) == pytest.approx(
        projected_by_postgis(TELFORD), abs=1e-3
    )


def test_the_admin_refuses_what_the_api_refuses(admin_client, shropshire_council):
    camera = an_asset(Camera, SHREWSBURY)
    form = {
        "organisation": shropshire_council.pk,
        "kind": "new_light",
        "date": "2026-03-14",
        "location": "",
        "camera": camera.pk,
        "radius_m": "",
        "cost": "",
        "note": "",
    }

    wrong_kind = admin_client.post("/admin/geo/intervention/add/", form)
    form["camera"] = ""
    form["location"] = f"SRID=4326;POINT({LONDON[0]} {LONDON[1]})"
    outside = admin_client.post("/admin/geo/intervention/add/", form)

    assert wrong_kind.status_code == outside.status_code == 200  # the form again
    assert b"A camera goes with kind new_camera" in wrong_kind.content
    assert b"This point is not in any local policing area." in outside.content
    assert not Intervention.objects.exists()

    form["kind"], form["location"], form["camera"] = "new_camera", "", camera.pk
    assert admin_client.post("/admin/geo/intervention/add/", form).status_code == 302
    assert Intervention.objects.get().camera == camera


def test_the_admin_lists_and_filters_interventions(admin_client, force_planner):
    created(force_planner)
    created(force_planner, location=point(WORCESTER))
    worcester = Area.objects.get(code="wm-south-worcestershire")

    listed = admin_client.get("/admin/geo/intervention/")
    filtered = admin_client.get(
        f"/admin/geo/intervention/?area={worcester.pk}&kind__exact=new_light"
    )

    assert listed.status_code == filtered.status_code == 200
    assert listed.context["cl"].result_count == 2
    assert filtered.context["cl"].result_count == 1
    assert b"South Worcestershire" in filtered.content
    one = Intervention.objects.filter(area=worcester).get()
    page = admin_client.get(f"/admin/geo/intervention/{one.pk}/change/")
    assert page.status_code == 200
