"""Planners of two organisations, and clients that call the API as them.

- West Mercia Police, force-wide: covers the force area, and so its five policing areas.
- Shropshire Council: covers the Shropshire local policing area only.

Fixtures in tests/conftest.py give them to any test; the helpers here make more.
"""

from django.contrib.auth.models import Group, User
from knox.models import AuthToken
from rest_framework.test import APIClient

from geo.models import Area, Organisation, PlannerProfile

PLANNER_PASSWORD = "a-long-enough-planner-password"


def organisation_make(name: str, *codes: str) -> Organisation:
    organisation = Organisation.objects.create(name=name, slug=name.lower().replace(" ", "-"))
    organisation.areas.set(Area.objects.filter(code__in=codes))
    return organisation


def planner_make(
    username: str,
    organisation: Organisation | None = None,
    *,
    in_group: bool = True,
    active: bool = True,
) -> User:
    """A user with a password; a planner of ``organisation`` unless told otherwise."""
    user = User.objects.create_user(username, password=PLANNER_PASSWORD, is_active=active)
    if in_group:
        # get_or_create: a transactional test's flush empties the group the migration made.
        user.groups.add(Group.objects.get_or_create(name="planners")[0])
    if organisation is not None:
        PlannerProfile.objects.create(user=user, organisation=organisation)
    return user


def client_for(user: User | None) -> APIClient:
    """An API client that sends the user's token, as QGIS and scripts do; anonymous for None."""
    client = APIClient()
    if user is not None:
        _, key = AuthToken.objects.create(user=user, expiry=None)
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client
