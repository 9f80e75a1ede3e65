"""Street lights, cameras and interventions written straight into their tables for the layer
tests, each point stored twice as an import stores it: in WGS84 and in the analysis SRID.

Made through the ORM (its signals move ``assets_version()`` on, as an import does) unless
a test needs a write the cache does not hear of (``lights_unannounced``).
"""

import datetime as dt
import itertools
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.contrib.gis.geos import GEOSGeometry, Point
from django.db import connection

from geo.models import Area, Camera, Intervention, Organisation, Streetlight
from tests.geo.hotspot_factories import XY, LonLat, projected, scattered

_numbers = itertools.count(1)


def _points(lonlat: LonLat) -> dict[str, GEOSGeometry]:
    location = Point(*lonlat, srid=4326)
    return {
        "location": location,
        "location_projected": location.transform(settings.ANALYSIS_SRID, clone=True),
    }


def _at(xy: XY) -> dict[str, GEOSGeometry]:
    """Both points of a position given in the analysis SRID."""
    location_projected = Point(*xy, srid=settings.ANALYSIS_SRID)
    return {
        "location": location_projected.transform(4326, clone=True),
        "location_projected": location_projected,
    }


def light_at(lonlat: LonLat | None = None, *, xy: XY | None = None, **fields: Any) -> Streetlight:
    """One street light at a WGS84 point or at ``xy`` in the analysis SRID."""
    points = _at(xy) if xy is not None else _points(lonlat)  # type: ignore[arg-type]
    fields.setdefault("external_id", f"light-{next(_numbers)}")
    return Streetlight.objects.create(**points, **fields)


def camera_at(lonlat: LonLat | None = None, *, xy: XY | None = None, **fields: Any) -> Camera:
    points = _at(xy) if xy is not None else _points(lonlat)  # type: ignore[arg-type]
    fields.setdefault("external_id", f"camera-{next(_numbers)}")
    return Camera.objects.create(**points, **fields)


def lights_around(
    lonlat: LonLat, *, count: int, spread_m: float, seed: int = 0, **fields: Any
) -> list[Streetlight]:
    """``count`` lights spread over a disc of ``spread_m`` metres around a place, in one
    INSERT (``bulk_create`` sends no signals: ``assets_changed()`` is the caller's)."""
    lights = [
        Streetlight(**_at(xy), external_id=f"light-{next(_numbers)}", **fields)
        for xy in scattered(projected(lonlat), count=count, spread_m=spread_m, seed=seed)
    ]
    return Streetlight.objects.bulk_create(lights)


def lights_unannounced(points: Iterable[XY], **fields: Any) -> None:
    """Working street lights at points in the analysis SRID, inserted in SQL: nothing moves
    ``assets_version()`` on, as after a bulk load that forgot to say so."""
    with connection.cursor() as cursor:
        for x, y in points:
            cursor.execute(
                "INSERT INTO geo_streetlight (external_id, location, location_projected, label,"
                " working, updated_at, lamp_type) SELECT %s, ST_Transform(p, 4326), p, '', true,"
                " now(), '' FROM ST_SetSRID(ST_MakePoint(%s, %s), %s) AS p",
                [f"light-{next(_numbers)}", x, y, settings.ANALYSIS_SRID],
            )


def intervention_at(
    lonlat: LonLat,
    *,
    organisation: Organisation,
    area_code: str | None = None,
    kind: str = Intervention.Kind.NEW_LIGHT,
    date: dt.date = dt.date(2026, 1, 15),
    **fields: Any,
) -> Intervention:
    area = Area.objects.get(code=area_code) if area_code is not None else None
    fields.setdefault("radius_m", 100)
    return Intervention.objects.create(
        organisation=organisation, kind=kind, area=area, date=date, **_points(lonlat), **fields
    )
