"""Who sees what: planners, the organisations they work for, and the areas those cover.

A planner is an active user in the "planners" group with a ``PlannerProfile``; anyone else
sees no planner data at all. An organisation covers some areas, and so every area inside
them: a force-wide organisation sees each of the force's local policing areas (and their
districts and wards, when stored); a council sees its own area and what lies inside it,
never the force around it.
"""

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser, Group, User
from django.contrib.auth.password_validation import validate_password
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils.text import slugify
from redis.exceptions import RedisError
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from geo.models import Area, Organisation, PlannerProfile

PLANNERS_GROUP = "planners"

# An area lies inside what an organisation covers when at least this share of its surface
# does. Not ST_Covers: boundaries from different sources never nest exactly. West Mercia's
# local policing areas, dissolved from the 2013 districts, stick out of the 2020 force
# area by 0.4 to 0.9% of their surface along its edge; a neighbouring area overlaps by a
# sliver, and an area around a covered one (the force around a council) by far less.
WITHIN_SHARE = 0.95

# The covered areas, then every other area whose bounding box meets their union (the GiST
# index on geo_area.geom) and which lies mostly inside it. Shares are taken in square
# degrees: a ratio of two areas this close together hardly depends on the latitude.
_AREA_IDS_SQL = """
    WITH covered AS (
        SELECT area_id AS id FROM geo_organisation_areas WHERE organisation_id = %(organisation)s
    ), outline AS (
        SELECT ST_Union(a.geom) AS geom FROM geo_area a JOIN covered ON covered.id = a.id
    )
    SELECT id FROM covered
    UNION
    SELECT a.id
    FROM outline
    JOIN geo_area a ON a.geom && outline.geom
    WHERE a.id NOT IN (SELECT id FROM covered)
      AND ST_Area(ST_Intersection(a.geom, outline.geom)) >= %(share)s * ST_Area(a.geom)
"""


def planner_organisation(user: AbstractBaseUser | AnonymousUser | None) -> Organisation | None:
    """The organisation a planner works for; None for anyone who is not a planner.

    One query, none for anonymous or inactive users (DRF gives None for anonymous).
    """
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    return Organisation.objects.filter(
        planners__user__pk=user.pk, planners__user__groups__name=PLANNERS_GROUP
    ).first()


def organisation_area_ids(*, organisation: Organisation) -> frozenset[int]:
    """The ids of the areas the organisation covers and of every area inside them."""
    with connection.cursor() as cursor:
        cursor.execute(_AREA_IDS_SQL, {"organisation": organisation.pk, "share": WITHIN_SHARE})
        return frozenset(area_id for (area_id,) in cursor.fetchall())


# The scope of an organisation is cached (it takes tens of milliseconds for a force, and
# every tile asks for it) under a version that any change to areas or to what an
# organisation covers moves on, so a stale scope is never read.
SCOPE_VERSION_KEY = "geo:scope-version"
SCOPE_TTL_SECONDS = 3600


def scope_version_bump() -> None:
    """Make every cached scope stale; called when areas or what organisations cover change."""
    try:
        cache.incr(SCOPE_VERSION_KEY)
    except ValueError:  # not set yet
        cache.set(SCOPE_VERSION_KEY, 1, timeout=None)
    except RedisError:  # what was cached expires within SCOPE_TTL_SECONDS
        pass


@receiver(post_save, sender=Area)
@receiver(post_delete, sender=Area)
@receiver(m2m_changed, sender=Organisation.areas.through)
def _areas_changed(**kwargs: Any) -> None:
    scope_version_bump()


def organisation_area_ids_cached(*, organisation: Organisation) -> frozenset[int]:
    """``organisation_area_ids`` through the cache: no query while nothing has changed."""
    try:
        version = cache.get(SCOPE_VERSION_KEY, 0)
        # The creation time too: a database made afresh reuses ids.
        key = f"geo:scope:{version}:{organisation.pk}:{organisation.created_at.timestamp()}"
        found = cache.get(key)
    except RedisError:  # without the cache, work it out every time
        return organisation_area_ids(organisation=organisation)
    if found is None:
        found = organisation_area_ids(organisation=organisation)
        with contextlib.suppress(RedisError):
            cache.set(key, sorted(found), timeout=SCOPE_TTL_SECONDS)
    return frozenset(found)


@dataclass(frozen=True)
class PlannerScope:
    """A planner's organisation and the ids of the areas they may see."""

    organisation: Organisation
    area_ids: frozenset[int]

    @property
    def key(self) -> str:
        """Equal for equal scopes: part of a cache key for anything scoped."""
        return f"{self.organisation.pk}:" + ",".join(str(i) for i in sorted(self.area_ids))


_NO_SCOPE = object()


def planner_scope(request: HttpRequest | Request) -> PlannerScope | None:
    """The scope of the request's user if a planner, else None; worked out once a request.

    One query (the organisation) while the organisation's areas are cached.
    """
    holder = request._request if isinstance(request, Request) else request
    found = getattr(holder, "_planner_scope", _NO_SCOPE)
    if found is _NO_SCOPE:
        organisation = planner_organisation(request.user)
        found = (
            None
            if organisation is None
            else PlannerScope(
                organisation=organisation,
                area_ids=organisation_area_ids_cached(organisation=organisation),
            )
        )
        holder._planner_scope = found  # type: ignore[attr-defined]
    return found  # type: ignore[return-value]


def planner_area_ids(user: AbstractBaseUser | AnonymousUser | None) -> frozenset[int]:
    """The ids of the areas a planner may see; empty for anyone who is not a planner.

    Two queries for a planner (the organisation, its areas), at most one for anyone else.
    """
    organisation = planner_organisation(user)
    if organisation is None:
        return frozenset()
    return organisation_area_ids(organisation=organisation)


class IsPlanner(BasePermission):
    """Planners of an organisation only; what each may see is ``planner_area_ids``."""

    message = "Only a planner of an organisation may do this."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return planner_scope(request) is not None


@transaction.atomic
def organisation_upsert(
    *, name: str, areas: Iterable[Area], slug: str | None = None
) -> tuple[Organisation, bool]:
    """Create or update the organisation with this name, covering exactly these areas.

    Without a slug, a new organisation's is made from its name and an existing one keeps
    its own. Raises ``ValidationError`` (by field: name, slug) on a value that cannot be
    stored, such as a slug another organisation uses.
    """
    organisation = Organisation.objects.filter(name=name).first()
    created = organisation is None
    if organisation is None:
        organisation = Organisation(name=name, slug=slugify(name) if slug is None else slug)
        if not organisation.slug and slug is None:
            raise ValidationError({"slug": f"None can be made from the name {name!r}: give one."})
    elif slug is not None:
        organisation.slug = slug
    taken = Organisation.objects.filter(slug=organisation.slug).exclude(pk=organisation.pk).first()
    if taken is not None:
        raise ValidationError(
            {"slug": f"{organisation.slug!r} is already the slug of {taken.name}: give another."}
        )
    organisation.full_clean(exclude=["areas"])
    if created:
        organisation.save()
    else:
        organisation.save(update_fields=["slug"])
    organisation.areas.set(areas)
    return organisation, created


@transaction.atomic
def planner_upsert(
    *,
    username: str,
    organisation: Organisation,
    email: str | None = None,
    password: str | None = None,
) -> tuple[User, bool]:
    """Create or update a planner: the user, in the planners group, of this organisation.

    A new user given no password gets an unusable one (a token, or a password set later,
    lets them in); an existing user keeps their password, e-mail address and active flag
    unless given new ones. Raises ``ValidationError`` (by field: username, email, password)
    on a value that cannot be stored or a password the validators refuse.
    """
    user = User.objects.filter(username=username).first()
    created = user is None
    if user is None:
        user = User(username=username)
    changed = []
    if email is not None:
        user.email = email
        changed.append("email")
    if password is not None:
        try:
            validate_password(password, user)
        except ValidationError as error:
            raise ValidationError({"password": error.messages}) from error
        user.set_password(password)
        changed.append("password")
    elif created:
        user.set_unusable_password()
    user.full_clean()
    if created:
        user.save()
    elif changed:
        user.save(update_fields=changed)
    user.groups.add(Group.objects.get_or_create(name=PLANNERS_GROUP)[0])
    PlannerProfile.objects.update_or_create(user=user, defaults={"organisation": organisation})
    return user, created
