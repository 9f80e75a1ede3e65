"""Interventions: recording what was done where, who may see and change it, and the public
"you said, we did" list.

Who sees what. A planner sees every intervention located in their organisation's areas,
whoever did it (a police problem-solving hub sees the council's new lights, since both
work on the same streets), and every one of their own organisation's. Only planners of
the organisation that recorded an intervention may change or delete it. The API answers
an intervention a planner cannot see as if it did not exist (404), and one they can see
but not change with a 403 that says whose it is: nothing is revealed by it that the
planner could not already read.

Where it is. An intervention is placed at a point given in WGS84, or at the street light
or camera it was done to; either way inside a local policing area the planner's
organisation covers, which becomes its ``area`` (the evaluation's control is the rest of
it). The projected point is worked out by PostGIS, as intake does for reports, so that
"within ``radius_m``" means the same for both.
"""

import contextlib
import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.gis.geos import Point
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone
from redis.exceptions import RedisError

from geo.access import PlannerScope
from geo.areas import locate_points
from geo.evaluation import kind_mask
from geo.models import Area, Camera, Intervention, Streetlight
from reports.models import LOCAL_TIME_ZONE

LIGHT_KINDS = (Intervention.Kind.NEW_LIGHT, Intervention.Kind.LIGHT_REPAIRED)
CAMERA_KINDS = (Intervention.Kind.NEW_CAMERA,)

# A date outside these bounds is a typing slip, not a plan: nothing was recorded by the
# service before 2000, and five years is further ahead than any budget is planned.
EARLIEST_DATE = dt.date(2000, 1, 1)
PLANNED_YEARS_AHEAD = 5
NOTE_MAX_LENGTH = 2000
# The model's DecimalField(max_digits=12, decimal_places=2).
COST_LIMIT = Decimal("10000000000")

# Fields a planner may set; the rest (organisation, area, projected point, who and when)
# the service sets.
EDITABLE_FIELDS = ("kind", "location", "streetlight", "camera", "date", "radius_m", "cost", "note")


def local_today(now: dt.datetime | None = None) -> dt.date:
    return (now or timezone.now()).astimezone(ZoneInfo(LOCAL_TIME_ZONE)).date()


# Reading


def interventions_visible(*, scope: PlannerScope) -> QuerySet[Intervention]:
    """Those located in the planner's areas, and their own organisation's anywhere."""
    return Intervention.objects.filter(
        Q(area_id__in=sorted(scope.area_ids)) | Q(organisation=scope.organisation)
    )


def intervention_visible(*, scope: PlannerScope, intervention_id: int) -> Intervention | None:
    """One intervention the planner may see, with its area and organisation; one query."""
    if not 0 < intervention_id < 2**63:  # past a bigint's range it is no one's
        return None
    return (
        interventions_visible(scope=scope)
        .select_related("area", "organisation")
        .defer("area__geom")
        .filter(pk=intervention_id)
        .first()
    )


def intervention_may_change(*, scope: PlannerScope, intervention: Intervention) -> bool:
    return intervention.organisation_id == scope.organisation.pk


# Writing


@dataclass(frozen=True)
class Placement:
    """Where an intervention is: the point, the same point projected, its area."""

    location: Point
    location_projected: Point
    area_id: int | None


def placement(*, longitude: float, latitude: float) -> Placement:
    """The point in WGS84 and ``ANALYSIS_SRID`` and its local policing area; two queries."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_X(p), ST_Y(p)"
            " FROM ST_Transform(ST_SetSRID(ST_MakePoint(%s, %s), 4326), %s) AS p",
            [longitude, latitude, settings.ANALYSIS_SRID],
        )
        x, y = cursor.fetchone()
    where = locate_points([(longitude, latitude)])[0]
    return Placement(
        location=Point(longitude, latitude, srid=4326),
        location_projected=Point(x, y, srid=settings.ANALYSIS_SRID),
        area_id=where.area_id,
    )


def _check_point(longitude: float, latitude: float) -> str | None:
    if not (-180 <= longitude <= 180 and -90 <= latitude <= 90):
        return "The point must be [longitude, latitude] in degrees (WGS84)."
    return None


def intervention_clean(
    *,
    values: Mapping[str, Any],
    area_ids: Collection[int] | None,
    current: Intervention | None = None,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """Checks an intervention's fields and works out where it is; the model's field values.

    ``values`` holds the fields being set (``EDITABLE_FIELDS``): for a new intervention
    all that are given, for a change only those changing, on top of ``current``.
    ``location`` is a (longitude, latitude) pair; ``streetlight`` and ``camera`` are ids
    (None unlinks). A new point must lie in a local policing area whose id is in
    ``area_ids`` (None: any local policing area, as the admin allows). Raises
    ``ValidationError`` with every faulty field named; returns the values to store,
    ``location_projected`` and ``area_id`` included when the place changes.
    """
    errors: dict[str, list[str]] = {}
    today = today or local_today()
    unknown = sorted(set(values) - set(EDITABLE_FIELDS))
    for name in unknown:
        errors[name] = [f"{name} cannot be set: the fields are {', '.join(EDITABLE_FIELDS)}."]

    def given(name: str) -> bool:
        return name in values

    kind = values["kind"] if given("kind") else (current.kind if current else None)
    if kind is None:
        errors["kind"] = ["This field is required."]
    elif kind not in Intervention.Kind.values:
        errors["kind"] = [f"{kind!r} is not a kind: one of {', '.join(Intervention.Kind.values)}."]
        kind = None

    cleaned: dict[str, Any] = {}
    if given("kind") and kind is not None:
        cleaned["kind"] = kind

    # Where: a point, or the asset's own point; giving one replaces the other.
    streetlight = current.streetlight if current else None
    camera = current.camera if current else None
    new_point: tuple[float, float] | None = None
    point_field = "location"
    if given("streetlight") and given("camera") and values["streetlight"] and values["camera"]:
        errors["camera"] = ["Give a street light or a camera, not both."]
    elif given("location") and (values.get("streetlight") or values.get("camera")):
        errors["location"] = [
            "Give the location or the street light or camera it was done to, not both: "
            "the asset's own position is used."
        ]
    else:
        for name, model, noun in (
            ("streetlight", Streetlight, "street light"),
            ("camera", Camera, "camera"),
        ):
            if not given(name):
                continue
            asset_id = values[name]
            if asset_id is None:
                if name == "streetlight":
                    streetlight = None
                else:
                    camera = None
                cleaned[name] = None
                continue
            asset = model.objects.filter(pk=asset_id).first() if 0 < asset_id < 2**63 else None
            if asset is None:
                errors[name] = [f"No {noun} with the id {asset_id} that you can see."]
                continue
            if isinstance(asset, Streetlight):
                streetlight, camera = asset, None
            else:
                streetlight, camera = None, asset
            cleaned["streetlight"], cleaned["camera"] = streetlight, camera
            new_point = (asset.location.x, asset.location.y)
            point_field = name
        if given("location"):
            location = values["location"]
            if location is None:
                errors["location"] = ["This field may not be null."]
            elif problem := _check_point(*location):
                errors["location"] = [problem]
            else:
                new_point = (float(location[0]), float(location[1]))
                streetlight = camera = None
                cleaned["streetlight"] = cleaned["camera"] = None
    if (
        current is None
        and new_point is None
        and not errors.keys()
        & {
            "location",
            "streetlight",
            "camera",
        }
    ):
        errors["location"] = [
            'Give a location ({"type": "Point", "coordinates": [lon, lat]}), or the id of '
            "the streetlight or camera it was done to."
        ]

    if new_point is not None:
        place = placement(longitude=new_point[0], latitude=new_point[1])
        if place.area_id is None or (area_ids is not None and place.area_id not in area_ids):
            if point_field == "location":
                errors["location"] = [
                    "This point is not in any local policing area."
                    if area_ids is None
                    else "This point is not in a local policing area you cover."
                ]
            else:
                noun = "street light" if point_field == "streetlight" else "camera"
                errors[point_field] = [
                    f"No {noun} with the id {values[point_field]} that you can see."
                ]
        else:
            cleaned["location"] = place.location
            cleaned["location_projected"] = place.location_projected
            cleaned["area_id"] = place.area_id

    # A street light goes with the light kinds, a camera with a new camera.
    if kind is not None and "streetlight" not in errors and "camera" not in errors:
        at_fault = (
            "kind" if given("kind") and not (given("streetlight") or given("camera")) else None
        )
        if streetlight is not None and kind not in LIGHT_KINDS:
            errors[at_fault or "streetlight"] = [
                f"A street light goes with kind {' or '.join(LIGHT_KINDS)}, not {kind}."
            ]
        elif camera is not None and kind not in CAMERA_KINDS:
            errors[at_fault or "camera"] = [
                f"A camera goes with kind {' or '.join(CAMERA_KINDS)}, not {kind}."
            ]

    if given("date") or current is None:
        date = values.get("date")
        latest = today.replace(year=today.year + PLANNED_YEARS_AHEAD, day=min(today.day, 28))
        if date is None:
            errors["date"] = ["This field is required: the day it was done (or is planned)."]
        elif not EARLIEST_DATE <= date <= latest:
            errors["date"] = [
                f"{date.isoformat()} is not a likely date: from {EARLIEST_DATE.isoformat()} "
                f"to {latest.isoformat()} (planned)."
            ]
        else:
            cleaned["date"] = date

    if given("radius_m") or current is None:
        radius = values.get("radius_m")
        if radius is None:
            radius = settings.INTERVENTION_RADIUS_M
        if not 1 <= radius <= settings.INTERVENTION_MAX_RADIUS_M:
            errors["radius_m"] = [
                f"The radius must be from 1 to {settings.INTERVENTION_MAX_RADIUS_M} metres."
            ]
        else:
            cleaned["radius_m"] = radius

    if given("cost"):
        cost = values["cost"]
        if cost is not None and not (Decimal(0) <= cost < COST_LIMIT):
            errors["cost"] = ["The cost must be at least 0 and below 10,000,000,000."]
        elif cost is not None and cost != cost.quantize(Decimal("0.01")):
            errors["cost"] = ["The cost has at most two decimal places (pounds and pence)."]
        else:
            cleaned["cost"] = cost

    if given("note"):
        note = values["note"] or ""
        if len(note) > NOTE_MAX_LENGTH:
            errors["note"] = [f"At most {NOTE_MAX_LENGTH} characters, not {len(note)}."]
        else:
            cleaned["note"] = note

    if errors:
        raise ValidationError(errors)
    return cleaned


@transaction.atomic
def intervention_create(
    *, scope: PlannerScope, user: User | None, values: Mapping[str, Any]
) -> Intervention:
    """Records an intervention of the planner's organisation, from ``EDITABLE_FIELDS``.

    Raises ``ValidationError`` naming each faulty field; nothing is stored then.
    """
    cleaned = intervention_clean(values=values, area_ids=scope.area_ids)
    cleaned.setdefault("streetlight", None)
    cleaned.setdefault("camera", None)
    intervention = Intervention(
        organisation=scope.organisation,
        created_by=user,
        **cleaned,
    )
    intervention.save()
    return intervention


@transaction.atomic
def intervention_update(
    *, scope: PlannerScope, intervention: Intervention, values: Mapping[str, Any]
) -> Intervention:
    """Changes the given fields of one of the organisation's interventions.

    A new location unlinks the asset; a new asset moves the intervention to it. Raises
    ``PermissionDenied`` for another organisation's, and ``ValidationError`` naming each
    faulty field (nothing is changed then).
    """
    if not intervention_may_change(scope=scope, intervention=intervention):
        raise PermissionDenied(
            f"Only planners of {intervention.organisation.name} may change this intervention."
        )
    cleaned = intervention_clean(values=values, area_ids=scope.area_ids, current=intervention)
    for name, value in cleaned.items():
        setattr(intervention, name, value)
    if cleaned:
        intervention.save(update_fields=[*cleaned, "updated_at"])
    return intervention


@transaction.atomic
def intervention_delete(*, scope: PlannerScope, intervention: Intervention) -> None:
    """Deletes one of the organisation's interventions; ``PermissionDenied`` for others'."""
    if not intervention_may_change(scope=scope, intervention=intervention):
        raise PermissionDenied(
            f"Only planners of {intervention.organisation.name} may delete this intervention."
        )
    intervention.delete()


# The public list


PUBLIC_VERSION_KEY = "geo:public-actions-version"


def _public_version() -> int:
    try:
        return int(cache.get(PUBLIC_VERSION_KEY, 0))
    except RedisError:
        return 0


@receiver(post_save, sender=Intervention)
@receiver(post_delete, sender=Intervention)
def _intervention_changed(**kwargs: Any) -> None:
    """Any change shows in the public list at once, not after the cache expires."""
    try:
        cache.incr(PUBLIC_VERSION_KEY)
    except ValueError:  # not set yet
        cache.set(PUBLIC_VERSION_KEY, 1, timeout=None)
    except RedisError:  # what was cached expires within PUBLIC_ACTIONS_CACHE_SECONDS
        pass


# Rounded to 0.001 degree: about 110 m north to south and 70 m east to west in Britain.
PUBLIC_DECIMALS = 3

# For each completed intervention of the page, the unsafe reports within its radius whose
# reasons it addresses, felt in the EVALUATION_MONTHS whole months before the month it was
# done in: the evaluation's "near, before" count. The GiST index on
# reports_report.location_projected, once per intervention.
_PUBLIC_COUNTS_SQL = """
    SELECT i.id, (
        SELECT count(*) FROM reports_report r
        WHERE ST_DWithin(r.location_projected, i.location_projected, i.radius_m)
          AND r.feeling = 'unsafe'
          AND (r.reason_bits & (%(masks)s::int[])[array_position(%(kinds)s::text[], i.kind)]) <> 0
          AND r.felt_month BETWEEN
              (date_part('year', i.date) * 12 + date_part('month', i.date) - 1)::int
                  - %(months)s
              AND (date_part('year', i.date) * 12 + date_part('month', i.date) - 1)::int - 1
    )
    FROM geo_intervention i
    WHERE i.id = ANY(%(ids)s)
"""


@dataclass(frozen=True)
class PublicAction:
    """One completed intervention as the public sees it: no note, cost, organisation user
    or exact point, and a count of the reports that led to it only when at least K."""

    id: int
    kind: str
    kind_label: str
    date: str
    area_code: str | None
    area_name: str | None
    longitude: float
    latitude: float
    # Unsafe reports nearby in the months before; None when fewer than K_ANONYMITY.
    reports: int | None
    fewer_than: int | None


def public_actions(
    *, area: Area | None = None, offset: int = 0, limit: int = 20, now: dt.datetime | None = None
) -> tuple[int, list[PublicAction]]:
    """Completed interventions (done today or earlier), newest first: the total and a page.

    Cached for ``PUBLIC_ACTIONS_CACHE_SECONDS`` under a version that any change to an
    intervention moves on; three queries when not cached, none when it is.
    """
    today = local_today(now)
    key = (
        f"geo:public-actions:{_public_version()}:{today.isoformat()}:"
        f"{area.pk if area else ''}:{offset}:{limit}"
    )
    with contextlib.suppress(RedisError):
        found = cache.get(key)
        if found is not None:
            return found[0], [PublicAction(**item) for item in found[1]]
    total, actions = _public_actions(area=area, offset=offset, limit=limit, today=today)
    with contextlib.suppress(RedisError):
        cache.set(
            key,
            (total, [action.__dict__ for action in actions]),
            timeout=settings.PUBLIC_ACTIONS_CACHE_SECONDS,
        )
    return total, actions


def _public_actions(
    *, area: Area | None, offset: int, limit: int, today: dt.date
) -> tuple[int, list[PublicAction]]:
    done = Intervention.objects.filter(date__lte=today)
    if area is not None:
        done = done.filter(area=area)
    total = done.count()
    page = list(
        done.order_by("-date", "-pk").values(
            "id", "kind", "date", "location", "area__code", "area__name"
        )[offset : offset + limit]
    )
    if not page:
        return total, []
    kinds = list(Intervention.Kind.values)
    with connection.cursor() as cursor:
        cursor.execute(
            _PUBLIC_COUNTS_SQL,
            {
                "ids": [row["id"] for row in page],
                "kinds": kinds,
                "masks": [kind_mask(kind) for kind in kinds],
                "months": settings.EVALUATION_MONTHS,
            },
        )
        counts = dict(cursor.fetchall())
    k = settings.K_ANONYMITY
    labels = dict(Intervention.Kind.choices)
    actions = []
    for row in page:
        count = counts.get(row["id"], 0)
        actions.append(
            PublicAction(
                id=row["id"],
                kind=row["kind"],
                kind_label=str(labels[row["kind"]]),
                date=row["date"].isoformat(),
                area_code=row["area__code"],
                area_name=row["area__name"],
                longitude=round(row["location"].x, PUBLIC_DECIMALS),
                latitude=round(row["location"].y, PUBLIC_DECIMALS),
                reports=count if count >= k else None,
                fewer_than=None if count >= k else k,
            )
        )
    return total, actions
