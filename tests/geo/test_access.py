"""Who sees what: planners, their organisations' areas, tokens, and the commands that set
them up (create_organisation, create_planner).

The cast, beside the west_mercia boundaries:

- West Mercia Police, force-wide: covers the force area, and so its five policing areas.
- Shropshire Council: covers the Shropshire local policing area only.
- Birmingham, in West Midlands Police's area: a made-up area that overlaps West Mercia's
  edge by a sliver, as a neighbour's boundary does.
- Non-planners of every kind, who see nothing and are refused.
"""

import re
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser, Group, User
from django.contrib.gis.geos import GEOSGeometry
from django.core.management.base import CommandError
from django.urls import path
from knox.models import AuthToken
from pytest_django import DjangoAssertNumQueries
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from geo.access import IsPlanner, planner_area_ids, planner_organisation
from geo.areas import area_upsert
from geo.management.commands.load_west_mercia import FORCE_CODE, LOCAL_POLICING_AREAS
from geo.models import Area, Organisation, PlannerProfile
from tests.cast import organisation_make as _organisation
from tests.cast import planner_make as _user
from tests.fixtures.areas import BOUNDARIES_DIR

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("west_mercia")]

LPA_CODES = sorted(code for code, _, _ in LOCAL_POLICING_AREAS)
# 7% of this rectangle lies in West Mercia (North Worcestershire), the rest in Birmingham.
BIRMINGHAM_EWKT = "SRID=4326;POLYGON((-2 52.38, -1.8 52.38, -1.8 52.54, -2 52.54, -2 52.38))"
PASSWORD = "a-long-enough-planner-password"


class PlannerOnlyView(APIView):
    """A stand-in for the planner API: who is calling, and the areas they may see."""

    permission_classes = [IsPlanner]

    def get(self, request: Request) -> Response:
        organisation = planner_organisation(request.user)
        assert organisation is not None  # IsPlanner let them in
        return Response(
            {"organisation": organisation.slug, "areas": _codes(planner_area_ids(request.user))}
        )


urlpatterns = [path("planner-only", PlannerOnlyView.as_view())]
with_planner_view = pytest.mark.urls("tests.geo.test_access")


def _codes(area_ids: Iterable[int]) -> list[str]:
    return sorted(Area.objects.filter(id__in=area_ids).values_list("code", flat=True))


def _token(out: str) -> str:
    match = re.search(r"^Token: ([0-9a-f]{64})$", out, re.MULTILINE)
    assert match, out
    return match.group(1)


@pytest.fixture
def birmingham() -> Area:
    area, _ = area_upsert(
        code="wmp-birmingham",
        name="Birmingham",
        kind=Area.Kind.LOCAL_POLICING_AREA,
        geom=GEOSGeometry(BIRMINGHAM_EWKT),
    )
    return area


# Scope


def test_a_force_wide_planner_sees_the_force_area_and_its_five_local_policing_areas(
    force_planner: User, west_mercia_police: Organisation
) -> None:
    assert planner_organisation(force_planner) == west_mercia_police
    assert _codes(planner_area_ids(force_planner)) == sorted([FORCE_CODE, *LPA_CODES])


def test_a_council_planner_sees_only_its_own_local_policing_area(
    shropshire_planner: User, shropshire_council: Organisation
) -> None:
    assert planner_organisation(shropshire_planner) == shropshire_council
    assert _codes(planner_area_ids(shropshire_planner)) == ["wm-shropshire"]


def test_a_council_sees_the_districts_inside_its_area_and_never_the_areas_around_it(
    run: Callable[..., str],
) -> None:
    run("load_west_mercia", data_dir=str(BOUNDARIES_DIR), districts=True)
    south = _user("south", _organisation("South Worcestershire", "wm-south-worcestershire"))
    city = _user("city", _organisation("Worcester City Council", "E07000237"))

    # Malvern Hills, Worcester and Wychavon; their boundaries (2013) and the force's (2020)
    # do not nest exactly, so inside means "almost all of it inside".
    assert _codes(planner_area_ids(south)) == [
        "E07000235",
        "E07000237",
        "E07000238",
        "wm-south-worcestershire",
    ]
    # Not South Worcestershire nor the force, though Worcester lies inside both.
    assert _codes(planner_area_ids(city)) == ["E07000237"]


def test_an_organisation_covering_two_areas_sees_both_and_nothing_else() -> None:
    planner = _user(
        "hereford-and-telford", _organisation("Two", "wm-herefordshire", "wm-telford-wrekin")
    )

    assert _codes(planner_area_ids(planner)) == ["wm-herefordshire", "wm-telford-wrekin"]


def test_a_planner_of_a_neighbouring_force_sees_none_of_west_mercia_and_no_one_there_sees_them(
    birmingham: Area, force_planner: User
) -> None:
    neighbour = _user("birmingham-planner", _organisation("West Midlands", birmingham.code))

    assert _codes(planner_area_ids(neighbour)) == ["wmp-birmingham"]
    # Birmingham overlaps West Mercia by a sliver, not enough to be inside it.
    assert "wmp-birmingham" not in _codes(planner_area_ids(force_planner))


def test_a_planners_areas_take_two_queries_and_an_anonymous_callers_none(
    force_planner: User, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    # 1. The planner's organisation, through their profile and the planners group.
    # 2. The areas it covers and every area inside them (geo.access._AREA_IDS_SQL).
    with django_assert_num_queries(2):
        assert len(planner_area_ids(force_planner)) == 6
    with django_assert_num_queries(0):
        assert planner_area_ids(None) == frozenset()


NOT_PLANNERS: dict[str, Callable[[Organisation], Any]] = {
    "anonymous": lambda organisation: None,
    "a user who is no planner": lambda organisation: _user("someone", in_group=False),
    "an inactive planner": lambda organisation: _user("gone", organisation, active=False),
    "a planner of no organisation": lambda organisation: _user("unattached"),
    "a user of an organisation outside the group": lambda organisation: _user(
        "ungrouped", organisation, in_group=False
    ),
}


@with_planner_view
@pytest.mark.parametrize("make_user", NOT_PLANNERS.values(), ids=NOT_PLANNERS.keys())
def test_anyone_who_is_not_a_planner_sees_nothing_and_is_refused(
    make_user: Callable[[Organisation], Any], west_mercia_police: Organisation
) -> None:
    user = make_user(west_mercia_police)
    client = APIClient()
    client.force_authenticate(user)

    assert planner_organisation(user) is None
    assert planner_area_ids(user) == frozenset()
    response = client.get("/planner-only")
    # Without credentials a 401 asking for a token; with a user who is no planner, a 403.
    assert response.status_code == (401 if user is None else 403)
    if user is not None:
        assert response.json() == {"detail": IsPlanner.message}


def test_django_anonymous_user_sees_nothing() -> None:
    assert planner_organisation(AnonymousUser()) is None
    assert planner_area_ids(AnonymousUser()) == frozenset()


@with_planner_view
def test_a_planner_signed_in_to_the_site_is_let_in(shropshire_planner: User) -> None:
    client = APIClient()
    client.force_login(shropshire_planner)

    response = client.get("/planner-only")

    assert response.status_code == 200
    assert response.json() == {"organisation": "shropshire-council", "areas": ["wm-shropshire"]}


def test_migrating_made_the_planners_group() -> None:
    assert Group.objects.filter(name="planners").exists()


# create_organisation


def test_create_organisation_covers_the_areas_given_and_says_what_its_planners_see(
    run: Callable[..., str],
) -> None:
    out = run("create_organisation", "West Mercia Police", "--area", FORCE_CODE)

    assert "Created organisation West Mercia Police [west-mercia-police], covering:" in out
    assert f"West Mercia (Police force area) [{FORCE_CODE}]" in out
    assert "Its planners see 6 areas" in out
    organisation = Organisation.objects.get(name="West Mercia Police")
    assert [area.code for area in organisation.areas.all()] == [FORCE_CODE]


def test_create_organisation_run_again_updates_the_same_organisation(
    run: Callable[..., str],
) -> None:
    run("create_organisation", "Worcestershire", "--area", "wm-north-worcestershire")

    out = run(
        "create_organisation",
        "Worcestershire",
        "--area",
        "wm-north-worcestershire",
        "--area",
        "wm-south-worcestershire",
    )

    assert "Updated organisation Worcestershire [worcestershire]" in out
    assert "Its planners see 2 areas" in out
    organisation = Organisation.objects.get()
    assert sorted(area.code for area in organisation.areas.all()) == [
        "wm-north-worcestershire",
        "wm-south-worcestershire",
    ]
    # Exactly the areas given: a run with fewer removes the others. The slug is kept
    # unless a new one is given.
    run("create_organisation", "Worcestershire", "--area", "wm-south-worcestershire")
    organisation.refresh_from_db()
    assert [area.code for area in organisation.areas.all()] == ["wm-south-worcestershire"]
    assert organisation.slug == "worcestershire"
    run(
        "create_organisation",
        "Worcestershire",
        "--area",
        "wm-south-worcestershire",
        "--slug",
        "worcs",
    )
    organisation.refresh_from_db()
    assert (Organisation.objects.count(), organisation.slug) == (1, "worcs")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["Telford", "--area", "wm-telford-wrekin", "--area", "wm-nowhere", "--area", "E99"],
            "--area: no area has the code E99, wm-nowhere.",
        ),
        (
            ["Telford", "--slug", "has spaces", "--area", "wm-telford-wrekin"],
            "--slug: Enter a valid",
        ),
        (
            ["Telford", "--slug", "shropshire-council", "--area", "wm-telford-wrekin"],
            "--slug: 'shropshire-council' is already the slug of Shropshire Council",
        ),
        (["!!!", "--area", "wm-telford-wrekin"], "--slug: None can be made from the name '!!!'"),
        (["Telford"], "the following arguments are required: --area"),
    ],
    ids=["unknown area codes", "invalid slug", "slug taken", "name without a slug", "no area"],
)
def test_create_organisation_refuses_bad_arguments_naming_them(
    run: Callable[..., str], shropshire_council: Organisation, args: list[str], message: str
) -> None:
    with pytest.raises(CommandError, match=re.escape(message)):
        run("create_organisation", *args)

    assert list(Organisation.objects.all()) == [shropshire_council]
    out = run("create_organisation", "Telford", "--area", "wm-telford-wrekin")
    assert "Created organisation Telford [telford]" in out


# create_planner


def test_create_planner_makes_an_active_planner_of_the_organisation_without_a_password(
    run: Callable[..., str], shropshire_council: Organisation
) -> None:
    out = run(
        "create_planner",
        "sam",
        "--organisation",
        "shropshire-council",
        "--email",
        "sam@example.org",
    )

    assert "Created planner sam of Shropshire Council [shropshire-council], who sees 1 area." in out
    assert "No password" in out
    assert "Token" not in out
    user = User.objects.get(username="sam")
    assert (user.email, user.is_active, user.is_staff) == ("sam@example.org", True, False)
    assert not user.has_usable_password()
    assert planner_organisation(user) == shropshire_council
    assert not AuthToken.objects.filter(user=user).exists()


def test_create_planner_finds_the_organisation_by_name_and_takes_the_password_from_the_environment(
    run: Callable[..., str], shropshire_council: Organisation, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLANNER_PASSWORD", PASSWORD)

    out = run(
        "create_planner",
        "sam",
        "--organisation",
        "Shropshire Council",
        "--password-from-env",
        "PLANNER_PASSWORD",
    )

    assert "No password" not in out
    assert User.objects.get(username="sam").check_password(PASSWORD)


def test_create_planner_run_again_moves_the_same_planner_and_keeps_their_password(
    run: Callable[..., str],
    shropshire_council: Organisation,
    west_mercia_police: Organisation,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PLANNER_PASSWORD", PASSWORD)
    run(
        "create_planner",
        "sam",
        "--organisation",
        "shropshire-council",
        "--password-from-env",
        "PLANNER_PASSWORD",
        "--email",
        "sam@example.org",
    )

    out = run("create_planner", "sam", "--organisation", "west-mercia-police")

    assert (
        "Updated planner sam of West Mercia Police [west-mercia-police], who sees 6 areas." in out
    )
    assert "Moved from Shropshire Council [shropshire-council]." in out
    user = User.objects.get()
    assert user.check_password(PASSWORD)
    assert user.email == "sam@example.org"
    assert PlannerProfile.objects.get().organisation == west_mercia_police
    assert list(user.groups.values_list("name", flat=True)) == ["planners"]


def test_create_planner_says_so_when_the_planner_is_inactive(
    run: Callable[..., str], shropshire_council: Organisation
) -> None:
    _user("gone", shropshire_council, active=False)

    out = run("create_planner", "gone", "--organisation", "shropshire-council")

    assert "inactive: they see nothing" in out
    assert not User.objects.get(username="gone").is_active


@with_planner_view
def test_create_planner_prints_one_token_that_lets_the_planner_in_by_header(
    run: Callable[..., str], shropshire_council: Organisation
) -> None:
    key = _token(run("create_planner", "sam", "--organisation", "shropshire-council", "--token"))
    client = APIClient()

    response = client.get("/planner-only", HTTP_AUTHORIZATION=f"Token {key}")

    assert response.status_code == 200
    assert response.json() == {"organisation": "shropshire-council", "areas": ["wm-shropshire"]}
    # Only its digest is stored: nothing in the database is the token itself.
    stored = AuthToken.objects.get()
    assert key not in stored.digest and stored.token_key == key[:15]
    # A wrong or missing one is refused.
    response = client.get("/planner-only", HTTP_AUTHORIZATION=f"Token {key[:15]}{'0' * 49}")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json() == {"detail": "Invalid token."}
    assert client.get("/planner-only").status_code == 401
    assert client.get("/planner-only", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200


@with_planner_view
def test_asking_for_a_token_again_replaces_the_old_one(
    run: Callable[..., str], shropshire_council: Organisation
) -> None:
    old = _token(run("create_planner", "sam", "--organisation", "shropshire-council", "--token"))
    out = run("create_planner", "sam", "--organisation", "shropshire-council", "--token")
    new = _token(out)
    client = APIClient()

    assert new != old
    assert "It replaces the 1 token(s) they had" in out
    assert AuthToken.objects.count() == 1
    assert client.get("/planner-only", HTTP_AUTHORIZATION=f"Token {old}").status_code == 401
    assert client.get("/planner-only", HTTP_AUTHORIZATION=f"Token {new}").status_code == 200


@with_planner_view
def test_a_token_proves_who_is_calling_but_only_a_planner_is_let_in(
    run: Callable[..., str], shropshire_council: Organisation
) -> None:
    key = _token(run("create_planner", "sam", "--organisation", "shropshire-council", "--token"))
    sam = User.objects.get(username="sam")
    sam.groups.clear()
    client = APIClient()

    response = client.get("/planner-only", HTTP_AUTHORIZATION=f"Token {key}")

    assert response.status_code == 403
    assert response.json() == {"detail": IsPlanner.message}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--organisation", "nowhere-council"],
            "--organisation: no organisation has the slug or name 'nowhere-council' "
            "(slugs: shropshire-council)",
        ),
        (
            ["--organisation", "shropshire-council", "--password-from-env", "UNSET_VARIABLE"],
            "--password-from-env: the environment variable UNSET_VARIABLE is not set.",
        ),
        (
            ["--organisation", "shropshire-council", "--password-from-env", "EMPTY_PASSWORD"],
            "--password-from-env: the environment variable EMPTY_PASSWORD is empty.",
        ),
        (
            ["--organisation", "shropshire-council", "--password-from-env", "SHORT_PASSWORD"],
            "--password-from-env SHORT_PASSWORD: This password is too short.",
        ),
        (
            ["--organisation", "shropshire-council", "--email", "not-an-address"],
            "--email: Enter a valid email address.",
        ),
        ([], "the following arguments are required: --organisation"),
    ],
    ids=[
        "unknown organisation",
        "unset variable",
        "empty variable",
        "short password",
        "bad e-mail",
        "no organisation",
    ],
)
def test_create_planner_refuses_bad_arguments_naming_them(
    run: Callable[..., str],
    shropshire_council: Organisation,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    monkeypatch.delenv("UNSET_VARIABLE", raising=False)
    monkeypatch.setenv("EMPTY_PASSWORD", "")
    monkeypatch.setenv("SHORT_PASSWORD", "short")

    with pytest.raises(CommandError, match=re.escape(message)):
        run("create_planner", "sam", *args)

    assert not User.objects.filter(username="sam").exists()
    out = run("create_planner", "sam", "--organisation", "shropshire-council")
    assert "Created planner sam" in out


def test_create_planner_refuses_a_user_name_django_would_not_take(
    run: Callable[..., str], shropshire_council: Organisation
) -> None:
    with pytest.raises(CommandError, match=re.escape("USERNAME: Enter a valid username.")):
        run("create_planner", "sam smith!", "--organisation", "shropshire-council")

    assert not User.objects.exists()


# Admin


def test_the_admin_lists_planners_and_flags_one_outside_the_group(
    admin_client: Any, shropshire_planner: User, shropshire_council: Organisation
) -> None:
    _user("ungrouped", shropshire_council, in_group=False)

    response = admin_client.get("/admin/geo/plannerprofile/")

    assert response.status_code == 200
    flags = {
        profile.user.username: profile.in_planners_group
        for profile in response.context["cl"].result_list
    }
    assert flags == {"shropshire-planner": True, "ungrouped": False}


def test_the_admin_edits_an_organisations_areas(
    admin_client: Any, shropshire_council: Organisation
) -> None:
    telford = Area.objects.get(code="wm-telford-wrekin")

    response = admin_client.get(f"/admin/geo/organisation/{shropshire_council.pk}/change/")
    assert response.status_code == 200
    response = admin_client.post(
        f"/admin/geo/organisation/{shropshire_council.pk}/change/",
        {"name": "Shropshire Council", "slug": "shropshire-council", "areas": [telford.pk]},
    )

    assert response.status_code == 302
    assert [area.code for area in shropshire_council.areas.all()] == ["wm-telford-wrekin"]
