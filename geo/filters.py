"""The planner layers' filters, read from a query string: one parser for every layer.

The GeoJSON endpoints, the vector tiles and the exports take the same parameters, so a
planner's map, their QGIS and their export all mean the same thing by them:

- ``resolution``: a hexagon width in metres, one of ``HOTSPOT_RESOLUTIONS``;
- ``reasons``: reason codes, comma-separated or repeated; a report with any of them;
- ``time_band``: day, evening, night or unknown (when the report was felt);
- ``since`` and ``until``: ISO 8601 dates or date-times; a date is local midnight, and
  ``until`` a date includes that whole day;
- ``area``: the code of an area the planner's organisation covers;
- ``in_bbox``: min lon, min lat, max lon, max lat in WGS84;
- ``class``: Gi* classes, -3 to 3, or ``hot`` (1 to 3) and ``cold`` (-3 to -1).

A malformed value is a ``ValidationError`` naming its parameter, which the API answers
with a 400. An area outside the planner's scope reads exactly as one that does not exist.
"""

import datetime as dt
import functools
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.gis.gdal import GDALException
from django.contrib.gis.geos import MultiPoint, Point, Polygon
from django.db.models import Q
from django.utils.dateparse import parse_date, parse_datetime
from rest_framework.exceptions import ValidationError

from geo.hotspots.aggregate import BANDS, Slice
from geo.models import Area
from reports.models import LOCAL_TIME_ZONE
from reports.reasons import REASON_CODES

BBox = tuple[float, float, float, float]

CLASS_ALIASES = {"hot": (1, 2, 3), "cold": (-3, -2, -1)}

# The parameters each layer reads; any other parameter is left alone (pagination's own).
HOTSPOT_PARAMS = (
    "resolution",
    "reasons",
    "time_band",
    "since",
    "until",
    "area",
    "in_bbox",
    "class",
)
REPORT_PARAMS = ("reasons", "time_band", "since", "until", "area", "in_bbox")
PLACE_PARAMS = ("area", "in_bbox")


@dataclass(frozen=True)
class LayerFilters:
    """What a planner asked for; every field None or empty means no filter."""

    resolution: int | None = None
    reasons: tuple[str, ...] = ()
    time_band: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    area: Area | None = None
    bbox: BBox | None = None
    classes: tuple[int, ...] = ()
    # The raw values, canonical, for cache keys and ETags.
    key: str = field(default="", compare=False)

    @property
    def selection(self) -> Slice:
        """The reports these filters let in, as a hotspot slice."""
        return Slice(reasons=self.reasons, band=self.time_band, since=self.since, until=self.until)

    def resolution_or(self, default: int) -> int:
        return self.resolution if self.resolution is not None else default


def report_q(filters: LayerFilters, *, area_ids: Collection[int] | None) -> Q:
    """The reports these filters let in, within a scope (None: every report), as a ``Q``.

    The same reports as ``filters.selection`` counts in a hotspot slice: any of the
    reasons, the band when felt, the window on when felt (when received where unknown).
    """
    q = Q()
    if area_ids is not None:
        q &= Q(area_id__in=sorted(area_ids))
    if filters.area is not None:
        q &= Q(area_id=filters.area.pk)
    if filters.reasons:
        q &= Q(reasons__overlap=list(filters.reasons))
    if filters.time_band is not None:
        q &= Q(felt_band=BANDS.index(filters.time_band))
    if filters.since is not None:
        q &= Q(felt_at__gte=filters.since) | Q(felt_at__isnull=True, received_at__gte=filters.since)
    if filters.until is not None:
        q &= Q(felt_at__lt=filters.until) | Q(felt_at__isnull=True, received_at__lt=filters.until)
    if filters.bbox is not None:
        envelope = Polygon.from_bbox(filters.bbox)
        envelope.srid = 4326
        q &= Q(location__intersects=envelope)
    return q


def default_resolution() -> int:
    """The emerging-trend resolution (200 m by default): streets apart, not doorsteps, and
    the one whose cells carry a trend."""
    return int(settings.HOTSPOT_EMERGING_RESOLUTION)


def parse_layer_filters(
    params: Mapping[str, Any],
    *,
    allowed: Sequence[str] = HOTSPOT_PARAMS,
    area_ids: Collection[int] | None = None,
) -> LayerFilters:
    """Read and check the filters in ``params`` (a QueryDict or a plain mapping).

    ``area_ids`` is the planner's scope: an ``area`` outside it is reported as unknown.
    None (the public layer, a test) accepts any stored area. Raises ``ValidationError``
    with every faulty parameter named.
    """
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}

    def raw(name: str) -> list[str]:
        if name not in allowed:
            return []
        if hasattr(params, "getlist"):
            found = params.getlist(name)
        else:
            value = params.get(name)
            found = [] if value is None else value if isinstance(value, list) else [value]
        return [str(v).strip() for v in found]

    def single(name: str) -> str | None:
        found = [v for v in raw(name) if v != ""]
        if len(found) > 1:
            errors[name] = [f"Give {name} once, not {len(found)} times."]
            return None
        return found[0] if found else None

    def listed(name: str) -> list[str]:
        return [part.strip() for value in raw(name) for part in value.split(",") if part.strip()]

    if (text := single("resolution")) is not None:
        try:
            resolution = int(text)
        except ValueError:
            resolution = None
        if resolution not in settings.HOTSPOT_RESOLUTIONS:
            choices = ", ".join(str(r) for r in settings.HOTSPOT_RESOLUTIONS)
            errors["resolution"] = [f"{text!r} is not a resolution: one of {choices} (metres)."]
        else:
            values["resolution"] = resolution

    if reasons := listed("reasons"):
        unknown = [code for code in reasons if code not in REASON_CODES]
        if unknown:
            errors["reasons"] = [
                f"Unknown reason: {', '.join(unknown)}. Known: {', '.join(REASON_CODES)}."
            ]
        else:
            values["reasons"] = tuple(sorted(set(reasons)))

    if (band := single("time_band")) is not None:
        if band not in BANDS:
            errors["time_band"] = [f"{band!r} is not a time band: one of {', '.join(BANDS)}."]
        else:
            values["time_band"] = band

    for name in ("since", "until"):
        if (text := single(name)) is not None:
            try:
                values[name] = _moment(text, end_of_day=name == "until")
            except ValueError as error:
                errors[name] = [str(error)]
    if (
        values.get("since") is not None
        and values.get("until") is not None
        and values["since"] >= values["until"]
    ):
        errors["until"] = ["until must come after since."]

    if (code := single("area")) is not None:
        area = Area.objects.filter(code=code).first()
        if area is None or (area_ids is not None and area.pk not in area_ids):
            errors["area"] = [f"No area with the code {code!r} that you can see."]
        else:
            values["area"] = area

    if (text := single("in_bbox")) is not None:
        try:
            values["bbox"] = _bbox(text)
        except ValueError as error:
            errors["in_bbox"] = [str(error)]

    if classes := listed("class"):
        chosen: set[int] = set()
        for value in classes:
            if value.lower() in CLASS_ALIASES:
                chosen.update(CLASS_ALIASES[value.lower()])
                continue
            try:
                number = int(value)
            except ValueError:
                number = None
            if number is None or not -3 <= number <= 3:
                errors["class"] = [
                    f"{value!r} is not a class: -3 to 3 (cold to hot, 0 neither), hot or cold."
                ]
                break
            chosen.add(number)
        else:
            values["classes"] = tuple(sorted(chosen))

    if errors:
        raise ValidationError(errors)
    key = "&".join(
        f"{name}={_canonical(values[name])}" for name in sorted(values) if values[name] is not None
    )
    return LayerFilters(**values, key=key)


def _canonical(value: Any) -> str:
    if isinstance(value, Area):
        return value.code
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def _moment(text: str, *, end_of_day: bool) -> dt.datetime:
    """An ISO date or date-time, as an aware datetime in the service's local time."""
    local = ZoneInfo(LOCAL_TIME_ZONE)
    try:
        # A plain date first: parse_datetime would take it as midnight at its start.
        day = parse_date(text) if len(text) == 10 else None
        # RFC 3339 allows a lower-case t and z.
        moment = None if day is not None else parse_datetime(text.upper())
    except ValueError:
        moment = day = None
    if moment is None and day is None:
        raise ValueError(
            f"{text!r} is not a date: use YYYY-MM-DD or an ISO 8601 date-time such as "
            "2026-03-01T18:00:00Z."
        )
    try:
        if moment is None:
            assert day is not None
            if end_of_day:
                day += dt.timedelta(days=1)
            moment = dt.datetime.combine(day, dt.time(0), tzinfo=local)
        elif moment.tzinfo is None:
            moment = moment.replace(tzinfo=local)
        moment.astimezone(dt.UTC)  # as the filters are compared and cached
    except OverflowError:
        raise ValueError(
            f"{text!r} is at the edge of the calendar: give a date in years 2 to 9998."
        ) from None
    return moment


def _bbox(text: str) -> BBox:
    parts = text.split(",")
    try:
        west, south, east, north = (float(part) for part in parts)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a box: give min lon,min lat,max lon,max lat in degrees."
        ) from None
    if not all(map(_finite, (west, south, east, north))):
        raise ValueError("Every corner of the box must be a finite number.")
    if not (
        -180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= 90 and -90 <= north <= 90
    ):
        raise ValueError("Longitudes must lie in -180..180 and latitudes in -90..90.")
    if west >= east or south >= north:
        raise ValueError(
            "The box's minimum must be below its maximum (min lon,min lat,max lon,max lat)."
        )
    box = (west, south, east, north)
    bbox_projected_extent(box)  # a box the analysis grid cannot hold is refused here
    return box


# Points along each edge of a box: its edges bow in a projected system (a parallel is
# curved on the British National Grid), so its extent there is not its corners'.
_EDGE_POINTS = 33


def bbox_projected_extent(bbox: BBox) -> BBox:
    """The extent in ANALYSIS_SRID of a WGS84 box, over points all along its edges.

    ValueError for a box that reaches where that system cannot go (a transverse Mercator
    such as the British National Grid has no x a quarter of the world from its centre).
    Worked out once for a box: parsing the filters checks it, the cell query uses it.
    """
    return _projected_extent(bbox, settings.ANALYSIS_SRID)


@functools.lru_cache(maxsize=256)
def _projected_extent(bbox: BBox, srid: int) -> BBox:
    west, south, east, north = bbox
    along = [k / (_EDGE_POINTS - 1) for k in range(_EDGE_POINTS)]
    lons = [west + (east - west) * t for t in along]
    lats = [south + (north - south) * t for t in along]
    edges = [
        *((lon, south) for lon in lons),
        *((lon, north) for lon in lons),
        *((west, lat) for lat in lats),
        *((east, lat) for lat in lats),
    ]
    outline = MultiPoint([Point(x, y) for x, y in edges], srid=4326)
    try:
        extent = outline.transform(srid, clone=True).extent
    except GDALException:
        extent = (math.inf,) * 4
    if not all(map(math.isfinite, extent)):
        raise ValueError(
            f"The box reaches beyond what the analysis grid (EPSG:{srid}) "
            "can map: give a box around the service area."
        )
    return extent


def _finite(value: float) -> bool:
    return value == value and value not in (float("inf"), float("-inf"))
