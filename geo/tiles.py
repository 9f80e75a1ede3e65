"""Mapbox Vector Tiles of the planner layers and the public layer, built in PostGIS.

``tile_answer`` answers one ``/tiles/<layer>/<z>/<x>/<y>.mvt``:

- a tile that lies outside the data (the service area's bounding box, cached, or the
  ``in_bbox`` filter) is empty at once, before any query;
- the tile's key is the version of the data the layer is drawn from, the layer, z/x/y,
  the filters' canonical key and the planner's scope. Layers of reports are drawn as of
  the live hotspot generation (one small query), street lights and cameras as of
  ``geo.assets.assets_version()`` (read from the cache, no query), coverage gaps as of
  both, interventions as of their count and latest change (one small query). New data
  moves every key on, so no tile is ever purged. The key is the ETag too, so
  ``If-None-Match`` is answered without building anything, and the tile itself is kept in
  Django's cache (Redis) under it;
- otherwise one statement builds the tile (``ST_AsMVT``), from SQL in ``sql/tiles/``.

Tiles of report points and of coverage gaps show the reports as of the live generation's
cache key: new reports appear with the next rebuild (debounced a few seconds after them),
erased ones go with it.

Each statement is a server-side prepared statement (``PREPARE`` once per database
connection, then ``EXECUTE``): parsing and planning the tile SQL takes longer than running
it on a tile. Which statements a connection has prepared is kept per psycopg2 connection,
so a reconnect (``CONN_MAX_AGE``, a health check, a dropped connection) prepares again.
"""

import contextlib
import functools
import hashlib
import logging
import math
import re
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.utils import DatabaseError
from redis.exceptions import RedisError

from geo.access import SCOPE_VERSION_KEY, PlannerScope
from geo.asset_layers import (
    ASSET_PARAMS,
    COVERAGE_GAP_PARAMS,
    coverage_cells_params,
    coverage_cells_sql,
)
from geo.assets import assets_version
from geo.coverage import Need
from geo.filters import HOTSPOT_PARAMS, PLACE_PARAMS, REPORT_PARAMS, LayerFilters
from geo.hotspots.aggregate import BANDS
from geo.hotspots.slices import live_slice
from geo.models import Area, HotspotGeneration

logger = logging.getLogger(__name__)

_SQL = Path(__file__).parent / "sql" / "tiles"

# Web Mercator (EPSG:3857): half the world's width in metres.
HALF_WORLD = 20037508.342789244
MAX_ZOOM = 22
EXTENT = 4096
# Features are kept this far (in tile units, of EXTENT) beyond the tile's edge, so that
# symbols and outlines that cross it are drawn whole.
BUFFER = 64

MEDIA_TYPE = "application/vnd.mapbox-vector-tile"

# Moves every cached tile on when the tiles' SQL or properties change.
_FORMAT_VERSION = "2"

BBox = tuple[float, float, float, float]


# --------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------


# What a layer is drawn from, and so what moves its tiles' keys on.
REPORT_DATA = "reports"  # the live hotspot generation
ASSET_DATA = "assets"  # geo.assets.assets_version()
INTERVENTION_DATA = "interventions"


@dataclass(frozen=True)
class Layer:
    name: str
    # The filters it reads (geo.filters).
    params: tuple[str, ...]
    planners_only: bool
    reads: frozenset[str] = frozenset({REPORT_DATA})


HOTSPOTS = Layer("hotspots", HOTSPOT_PARAMS, planners_only=True)
REPORTS = Layer("reports", REPORT_PARAMS, planners_only=True)
PLACES = Layer("places", PLACE_PARAMS, planners_only=True)
# Anonymous, as /api/v1/public/hotspots: no filter that could single out a few reports
# (reasons, time band, dates), only a box.
PUBLIC_HOTSPOTS = Layer("public-hotspots", ("in_bbox",), planners_only=False)
STREETLIGHTS = Layer(
    "streetlights", ASSET_PARAMS, planners_only=True, reads=frozenset({ASSET_DATA})
)
CAMERAS = Layer("cameras", ASSET_PARAMS, planners_only=True, reads=frozenset({ASSET_DATA}))
# Also reads ``intervention`` (lighting or cctv), which is not a report filter.
COVERAGE_GAPS = Layer(
    "coverage-gaps",
    COVERAGE_GAP_PARAMS,
    planners_only=True,
    reads=frozenset({REPORT_DATA, ASSET_DATA}),
)
INTERVENTIONS = Layer(
    "interventions", ASSET_PARAMS, planners_only=True, reads=frozenset({INTERVENTION_DATA})
)

LAYERS = {
    layer.name: layer
    for layer in (
        HOTSPOTS,
        REPORTS,
        PLACES,
        PUBLIC_HOTSPOTS,
        STREETLIGHTS,
        CAMERAS,
        COVERAGE_GAPS,
        INTERVENTIONS,
    )
}


# --------------------------------------------------------------------------------------
# Tiles and their boxes (Web Mercator is a formula: no query needed)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tile:
    z: int
    x: int
    y: int

    @property
    def bounds(self) -> BBox:
        """(min x, min y, max x, max y) in EPSG:3857."""
        width = 2 * HALF_WORLD / (1 << self.z)
        west = -HALF_WORLD + self.x * width
        north = HALF_WORLD - self.y * width
        return west, north - width, west + width, north

    @property
    def width(self) -> float:
        return 2 * HALF_WORLD / (1 << self.z)

    def buffered(self) -> BBox:
        margin = self.width * BUFFER / EXTENT
        west, south, east, north = self.bounds
        return west - margin, south - margin, east + margin, north + margin


def tile_errors(z: str, x: str, y: str) -> tuple[Tile | None, dict[str, list[str]]]:
    """The tile at z/x/y, or the faults of each part (z 0..22, x and y 0..2^z - 1)."""
    errors: dict[str, list[str]] = {}
    zoom = _whole(z)
    if zoom is None or not 0 <= zoom <= MAX_ZOOM:
        errors["z"] = [f"{z!r} is not a zoom: a whole number from 0 to {MAX_ZOOM}."]
        return None, errors
    last = (1 << zoom) - 1
    values = {}
    for name, text in (("x", x), ("y", y)):
        value = _whole(text)
        if value is None or not 0 <= value <= last:
            errors[name] = [f"{text!r} is not a tile {name} at zoom {zoom}: 0 to {last}."]
        else:
            values[name] = value
    if errors:
        return None, errors
    return Tile(zoom, values["x"], values["y"]), {}


def _whole(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 8 else None


def mercator(lon: float, lat: float) -> tuple[float, float]:
    lat = max(min(lat, 85.05112878), -85.05112878)
    x = lon * HALF_WORLD / 180.0
    y = math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)) * HALF_WORLD / math.pi
    return x, y


def lonlat(x: float, y: float) -> tuple[float, float]:
    lon = x * 180.0 / HALF_WORLD
    lat = math.degrees(2 * math.atan(math.exp(y * math.pi / HALF_WORLD)) - math.pi / 2)
    return lon, lat


def mercator_box(box: BBox) -> BBox:
    """A WGS84 box in EPSG:3857: the projection keeps lines of longitude and latitude
    straight, so the box's corners are exact."""
    west, south = mercator(box[0], box[1])
    east, north = mercator(box[2], box[3])
    return west, south, east, north


def wgs84_box(box: BBox) -> BBox:
    west, south = lonlat(box[0], box[1])
    east, north = lonlat(box[2], box[3])
    return west, south, east, north


def intersection(a: BBox, b: BBox | None) -> BBox | None:
    if b is None:
        return a
    box = (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
    return box if box[0] <= box[2] and box[1] <= box[3] else None


# --------------------------------------------------------------------------------------
# Where the data is: the service area's box, cached
# --------------------------------------------------------------------------------------

_EXTENT_SQL = (
    "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)"
    " FROM (SELECT ST_Extent(geom) AS e FROM geo_areapart WHERE kind = %s) extent"
)
_EXTENT_SECONDS = 3600


def data_extent() -> BBox | None:
    """The service area's bounding box in EPSG:3857, grown by twice the coarsest hexagon
    (cells stick out of it); None without boundaries.

    Cached under the version that any change to areas moves on (``geo.access``): no query
    while nothing has changed.
    """
    key = None
    try:
        key = f"geo:tiles:extent:{cache.get(SCOPE_VERSION_KEY, 0)}"
        found = cache.get(key)
    except RedisError:
        found = None
    if found is not None:
        return (found[0], found[1], found[2], found[3]) if found else None
    with connection.cursor() as cursor:
        cursor.execute(_EXTENT_SQL, [Area.Kind.FORCE])
        row = cursor.fetchone()
    extent: BBox | None = None
    if row is not None and row[0] is not None:
        # Degrees of latitude are 111 km; of longitude fewer, so this is more than enough.
        margin = 2 * max(settings.HOTSPOT_RESOLUTIONS) / 111_000 * 2
        extent = mercator_box(
            (
                max(float(row[0]) - margin, -180.0),
                max(float(row[1]) - margin, -85.0),
                min(float(row[2]) + margin, 180.0),
                min(float(row[3]) + margin, 85.0),
            )
        )
    if key is not None:
        with contextlib.suppress(RedisError):
            cache.set(key, list(extent) if extent else [], timeout=_EXTENT_SECONDS)
    return extent


# --------------------------------------------------------------------------------------
# Prepared statements
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    """A tile query, prepared once per database connection and then executed by name."""

    stem: str
    types: tuple[str, ...]
    # Fixed SQL put in the file's ``{...}`` markers (never a value: those are bound).
    parts: tuple[tuple[str, str], ...] = ()
    # For SQL written with named parameters (``%(name)s``: coverage_cells.sql, which the
    # GeoJSON API runs through Django's cursor as well): (name, type) in the order of $1,
    # $2..., with ``types`` left empty. ``values`` orders a mapping of them.
    named: tuple[tuple[str, str], ...] = ()

    @cached_property
    def sql(self) -> str:
        text = (_SQL / f"{self.stem}.sql").read_text()
        text = text.format(**dict(self.parts)) if self.parts else text
        if self.named:
            positions = {name: f"${k}" for k, (name, _) in enumerate(self.named, start=1)}
            text = re.sub(r"%\((\w+)\)s", lambda match: positions[match.group(1)], text)
        return text

    @property
    def parameter_types(self) -> tuple[str, ...]:
        return self.types or tuple(kind for _, kind in self.named)

    def values(self, params: Mapping[str, Any]) -> list[Any]:
        return [params[name] for name, _ in self.named]

    @cached_property
    def name(self) -> str:
        # The SQL's digest in the name: a changed statement is never confused with the old.
        digest = hashlib.blake2b(self.sql.encode(), digest_size=4).hexdigest()
        suffix = "_".join(value for key, value in self.parts if key == "variant")
        return f"tiles_{self.stem}{'_' + suffix if suffix else ''}_{digest}"

    @cached_property
    def prepare(self) -> str:
        return f"PREPARE {self.name} ({', '.join(self.parameter_types)}) AS\n{self.sql}"

    @cached_property
    def execute(self) -> str:
        # JIT compiling costs more than the whole of a tile's query (and a cached plan
        # costed above jit_above_cost would pay it on every EXECUTE); sorting the reports
        # of a dense tile needs more than the default work_mem. SET LOCAL lasts for the one
        # implicit transaction of these statements sent together (or for the caller's
        # transaction inside an atomic block).
        return (
            f"SET LOCAL jit = off; SET LOCAL work_mem = '{_WORK_MEM}'; "
            f"EXECUTE {self.name} ({', '.join(['%s'] * len(self.parameter_types))})"
        )


_WORK_MEM = "32MB"

_HOTSPOT_TYPES = (
    "int", "int", "int",  # z, x, y
    "float8", "float8", "float8", "float8",  # the search box
    "bigint", "bigint", "int",  # generation, slice, resolution
    "bigint[]", "bigint", "int[]",  # scope, area, classes
    "float8", "float8", "float8", "float8",  # in_bbox
    "int",  # analysis SRID
)  # fmt: skip
_REPORT_TYPES = (
    "int", "int", "int",
    "float8", "float8", "float8", "float8",
    "bigint[]", "bigint", "int", "int", "timestamptz", "timestamptz",
    "int",  # the most points, or the cells per side
)  # fmt: skip

HOTSPOT_CELLS = Statement(
    "hotspots",
    _HOTSPOT_TYPES,
    (("cells_of", "c.slice_id IS NULL AND $9::bigint IS NULL"), ("variant", "live")),
)
HOTSPOT_SLICE_CELLS = Statement(
    "hotspots", _HOTSPOT_TYPES, (("cells_of", "c.slice_id = $9"), ("variant", "slice"))
)
PUBLIC_HOTSPOT_CELLS = Statement(
    "public_hotspots",
    (
        "int", "int", "int",
        "float8", "float8", "float8", "float8",
        "bigint", "int", "int", "int",  # generation, K, resolution, analysis SRID
        "float8", "float8", "float8", "float8",  # in_bbox
    ),
)  # fmt: skip
PLACE_SHAPES = Statement(
    "places",
    (
        "int", "int", "int",
        "float8", "float8", "float8", "float8",
        "bigint", "bigint[]", "bigint",
        "float8", "float8", "float8", "float8",
        "boolean",
    ),
)  # fmt: skip
REPORT_POINTS = Statement("report_points", _REPORT_TYPES)
REPORT_CELLS = Statement("report_cells", _REPORT_TYPES)
REPORT_CELL_COUNTS = Statement(
    "report_cell_counts",
    (
        "int", "int", "int",
        "float8", "float8", "float8", "float8",
        "bigint[]", "bigint", "bigint", "int", "int", "int",
    ),
)  # fmt: skip

_ASSET_TYPES = (
    "int", "int", "int",
    "float8", "float8", "float8", "float8",
    "bigint[]", "bigint",  # scope, area
    "int",  # the most points, or the cells per side
)  # fmt: skip
STREETLIGHT_POINTS = Statement(
    "asset_points",
    _ASSET_TYPES,
    (
        ("table", "geo_streetlight"),
        ("layer", "streetlights"),
        ("columns", "nullif(a.lamp_type, '') AS lamp_type, a.wattage"),
        ("names", "lamp_type, wattage"),
        ("variant", "streetlights"),
    ),
)
CAMERA_POINTS = Statement(
    "asset_points",
    _ASSET_TYPES,
    (
        ("table", "geo_camera"),
        ("layer", "cameras"),
        ("columns", "a.kind, a.range_m"),
        ("names", "kind, range_m"),
        ("variant", "cameras"),
    ),
)
STREETLIGHT_CELLS = Statement(
    "asset_cells",
    _ASSET_TYPES,
    (("table", "geo_streetlight"), ("layer", "streetlights"), ("variant", "streetlights")),
)
CAMERA_CELLS = Statement(
    "asset_cells",
    _ASSET_TYPES,
    (("table", "geo_camera"), ("layer", "cameras"), ("variant", "cameras")),
)
INTERVENTION_POINTS = Statement(
    "interventions",
    (
        "int", "int", "int",
        "float8", "float8", "float8", "float8",
        "bigint[]", "bigint", "bigint",  # scope, organisation, area
    ),
)  # fmt: skip

# coverage_gaps.sql and the coverage_cells.sql inside it, in the order of $1, $2...
_COVERAGE_GAP_NAMES = (
    ("z", "int"), ("x", "int"), ("y", "int"),
    ("xmin", "float8"), ("ymin", "float8"), ("xmax", "float8"), ("ymax", "float8"),
    ("areas", "bigint[]"), ("area", "bigint"),
    ("resolution", "int"), ("srid", "int"), ("generation", "bigint"),
    ("weight1", "float8"), ("weight2", "float8"), ("weight3", "float8"),
    ("half_life_seconds", "float8"),
    ("demand_mask", "int"), ("cover_radius", "float8"),
    ("bxmin", "float8"), ("bymin", "float8"), ("bxmax", "float8"), ("bymax", "float8"),
)  # fmt: skip


@functools.cache
def coverage_gap_statement(need: Need) -> Statement:
    """The coverage-gap tile of ``need``: the coverage rule's SQL differs by intervention.

    Made on first use: the rule's SQL is ``geo.coverage``'s, not read at import time."""
    return Statement(
        "coverage_gaps",
        (),
        (("cells", coverage_cells_sql(need)), ("variant", need.value)),
        named=_COVERAGE_GAP_NAMES,
    )


STATEMENTS = (
    HOTSPOT_CELLS,
    HOTSPOT_SLICE_CELLS,
    PUBLIC_HOTSPOT_CELLS,
    PLACE_SHAPES,
    REPORT_POINTS,
    REPORT_CELLS,
    REPORT_CELL_COUNTS,
    STREETLIGHT_POINTS,
    CAMERA_POINTS,
    STREETLIGHT_CELLS,
    CAMERA_CELLS,
    INTERVENTION_POINTS,
)

# The statements each open psycopg2 connection has prepared. Weak keys: a closed and
# collected connection takes its entry with it, and a new one starts with none.
_prepared: "weakref.WeakKeyDictionary[Any, set[str]]" = weakref.WeakKeyDictionary()

# PostgreSQL's "prepared statement does not exist" (a pooler or DISCARD ALL dropped it).
_NO_SUCH_STATEMENT = "26000"


def run_statement(statement: Statement, params: Sequence[Any]) -> tuple[Any, ...]:
    """Executes the prepared statement on Django's connection (preparing it first if this
    connection has not) and returns its one row."""
    for attempt in (1, 2):
        connection.ensure_connection()
        prepared = _prepared.setdefault(connection.connection, set())
        name = statement.name
        try:
            with connection.cursor() as cursor:
                if name not in prepared:
                    cursor.execute(statement.prepare)
                    prepared.add(name)
                cursor.execute(statement.execute, list(params))
                row = cursor.fetchone()
        except DatabaseError as error:
            if getattr(error.__cause__, "pgcode", None) != _NO_SUCH_STATEMENT:
                raise
            # Prepared statements outlive a rolled-back transaction, so only something
            # outside this module drops them: forget them all, and once more if a failed
            # statement has not spoilt a transaction.
            prepared.clear()
            if attempt == 2 or connection.in_atomic_block:
                raise
            logger.warning("Tile statement %s was gone; preparing it again", name)
            continue
        assert row is not None
        return tuple(row)
    raise AssertionError("unreachable")


def forget_prepared() -> None:
    """Forget what this process's connections prepared (tests that DEALLOCATE)."""
    _prepared.clear()


# --------------------------------------------------------------------------------------
# Answers
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TileAnswer:
    """What to send: 200 with a tile, 204 for an empty one, 304 when the client has it."""

    status: int
    body: bytes = b""
    etag: str | None = None


def hotspot_resolution(z: int) -> int:
    """The resolution a zoom shows: the coarsest below the first of TILES_HOTSPOT_ZOOMS,
    the next finer from it, and so on."""
    coarse_first = sorted(settings.HOTSPOT_RESOLUTIONS, reverse=True)
    step = sum(1 for zoom in settings.TILES_HOTSPOT_ZOOMS if z >= zoom)
    return coarse_first[min(step, len(coarse_first) - 1)]


def report_grid_side() -> int:
    """Cells per side of a tile of counted reports: their square is at most the cap."""
    return max(1, min(math.isqrt(settings.TILES_MAX_FEATURES), EXTENT // 16))


def tile_answer(
    *,
    layer: Layer,
    tile: Tile,
    filters: LayerFilters,
    scope: PlannerScope | None,
    need: Need | None = None,
    if_none_match: str | None = None,
) -> TileAnswer:
    """One tile of a layer for a planner's scope (None: the public layer); ``need`` is the
    coverage-gap layer's intervention (lighting when not given)."""
    if layer.planners_only and scope is None:
        raise ValueError(f"The {layer.name} layer is for planners only")
    extent = data_extent()
    search = intersection(tile.buffered(), extent)
    if search is not None and filters.bbox is not None:
        search = intersection(search, mercator_box(filters.bbox))
    if search is None:
        return TileAnswer(204)

    generation, version = data_version(layer)
    if layer is COVERAGE_GAPS:
        version += f"|{need or Need.LIGHTING}"
    etag = '"' + _key(layer, tile, filters, scope, version) + '"'
    if if_none_match is not None and _matches(if_none_match, etag):
        return TileAnswer(304, etag=etag)
    use_cache = settings.TILES_CACHE
    if use_cache:
        try:
            body = cache.get(f"geo:tile:{etag[1:-1]}")
        except RedisError:
            body = None
            use_cache = False
        if body is not None:
            return TileAnswer(200 if body else 204, body, etag)

    body = tile_build(
        layer=layer,
        tile=tile,
        filters=filters,
        scope=scope,
        generation=generation,
        extent=extent,
        need=need,
    )
    if use_cache:
        with contextlib.suppress(RedisError):
            cache.set(f"geo:tile:{etag[1:-1]}", body, timeout=settings.TILES_CACHE_SECONDS)
    return TileAnswer(200 if body else 204, body, etag)


def live_generation_id() -> int | None:
    """The live generation's id: plain SQL, as the ORM's compiling would cost more than
    the query on a cached tile."""
    with connection.cursor() as cursor:
        cursor.execute(_LIVE_SQL, [HotspotGeneration.Status.LIVE])
        row = cursor.fetchone()
    return None if row is None else int(row[0])


# one_live_generation (a unique partial index on status) finds it.
_LIVE_SQL = "SELECT id FROM geo_hotspotgeneration WHERE status = %s"

# Any intervention written or deleted changes one or the other (the table is small).
_INTERVENTIONS_SQL = "SELECT count(*), max(updated_at) FROM geo_intervention"


def data_version(layer: Layer) -> tuple[int | None, str]:
    """The live generation's id where the layer reads reports (else None), and a text
    that changes whenever anything the layer is drawn from does: part of its tiles' keys.

    One query for reports (the generation), none for assets (a version in the cache,
    with the areas' version, as assets belong to a planner by where they lie), one for
    interventions.
    """
    generation = None
    parts = []
    if REPORT_DATA in layer.reads:
        generation = live_generation_id()
        parts.append(f"g{generation or 0}")
    if ASSET_DATA in layer.reads:
        try:
            areas = cache.get(SCOPE_VERSION_KEY, 0)
        except RedisError:
            areas = 0
        parts.append(f"a{assets_version()}.{areas}")
    if INTERVENTION_DATA in layer.reads:
        with connection.cursor() as cursor:
            cursor.execute(_INTERVENTIONS_SQL)
            count, latest = cursor.fetchone()
        parts.append(f"i{count}.{latest.timestamp() if latest is not None else 0}")
    return generation, "|".join(parts)


def _key(
    layer: Layer,
    tile: Tile,
    filters: LayerFilters,
    scope: PlannerScope | None,
    version: str,
) -> str:
    text = "|".join(
        [
            _FORMAT_VERSION,
            _settings_key(),
            version,
            layer.name,
            f"{tile.z}/{tile.x}/{tile.y}",
            filters.key,
            scope.key if scope is not None else "public",
        ]
    )
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _settings_key() -> str:
    """The settings a tile depends on: a change moves every key on."""
    return repr(
        (
            settings.HOTSPOT_RESOLUTIONS,
            settings.K_ANONYMITY,
            settings.ANALYSIS_SRID,
            settings.TILES_MAX_FEATURES,
            settings.TILES_REPORT_POINTS_MIN_ZOOM,
            settings.TILES_HOTSPOT_ZOOMS,
            settings.TILES_PLACE_HULLS_MIN_ZOOM,
            settings.TILES_ASSET_POINTS_MIN_ZOOM,
            settings.LIGHT_RADIUS_M,
            settings.CAMERA_RADIUS_M,
            settings.HOTSPOT_SEVERITY_WEIGHTS,
            settings.HOTSPOT_HALF_LIFE_DAYS,
        )
    )


def _matches(if_none_match: str, etag: str) -> bool:
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return etag in tags or "*" in tags


def _areas(scope: PlannerScope | None) -> list[int] | None:
    return None if scope is None else sorted(scope.area_ids)


Run = Callable[[Statement, Sequence[Any]], tuple[Any, ...]]


def tile_build(
    *,
    layer: Layer,
    tile: Tile,
    filters: LayerFilters,
    scope: PlannerScope | None,
    generation: int | None,
    extent: BBox | None,
    run: Run = run_statement,
    need: Need | None = None,
) -> bytes:
    """The tile itself, empty where there is nothing. ``extent`` is ``data_extent()``;
    ``run`` executes each statement (the benchmark records them); ``need`` is the
    coverage-gap layer's intervention (lighting when not given)."""
    search = intersection(tile.buffered(), extent)
    if search is not None and filters.bbox is not None:
        search = intersection(search, mercator_box(filters.bbox))
    if search is None:
        return b""
    if layer is REPORTS:
        return _reports(tile, filters, scope, generation, extent, run)
    if layer is STREETLIGHTS or layer is CAMERAS:
        return _assets(layer, tile, filters, scope, extent, run)
    if layer is COVERAGE_GAPS:
        return _coverage_gaps(
            tile, filters, scope, generation, wgs84_box(search), need or Need.LIGHTING, run
        )
    if layer is INTERVENTIONS:
        assert scope is not None
        (body,) = run(
            INTERVENTION_POINTS,
            [
                tile.z,
                tile.x,
                tile.y,
                *wgs84_box(search),
                _areas(scope),
                scope.organisation.pk,
                filters.area.pk if filters.area is not None else None,
            ],
        )
        return bytes(body or b"")
    if generation is None:
        return b""
    zxy = [tile.z, tile.x, tile.y]
    area = filters.area.pk if filters.area is not None else None
    classes = list(filters.classes) or None
    if layer is PUBLIC_HOTSPOTS:
        row = run(
            PUBLIC_HOTSPOT_CELLS,
            [
                *zxy,
                *search,
                generation,
                settings.K_ANONYMITY,
                max(settings.HOTSPOT_RESOLUTIONS),
                settings.ANALYSIS_SRID,
                *(mercator_box(filters.bbox) if filters.bbox is not None else (None,) * 4),
            ],
        )
        return bytes(row[0] or b"")
    if layer is HOTSPOTS:
        resolution = filters.resolution_or(hotspot_resolution(tile.z))
        statement, slice_id = HOTSPOT_CELLS, None
        if not filters.selection.everything:
            found = live_slice(filters.selection, resolution=resolution)
            if found is None:
                return b""
            statement, slice_id, generation = HOTSPOT_SLICE_CELLS, found.pk, found.generation_id
        in_bbox = mercator_box(filters.bbox) if filters.bbox is not None else (None,) * 4
        row = run(
            statement,
            [
                *zxy,
                *search,
                generation,
                slice_id,
                resolution,
                _areas(scope),
                area,
                classes,
                *in_bbox,
                settings.ANALYSIS_SRID,
            ],
        )
        return bytes(row[0] or b"")
    if layer is PLACES:
        in_bbox = filters.bbox if filters.bbox is not None else (None,) * 4
        row = run(
            PLACE_SHAPES,
            [
                *zxy,
                *wgs84_box(search),
                generation,
                _areas(scope),
                area,
                *in_bbox,
                tile.z >= settings.TILES_PLACE_HULLS_MIN_ZOOM,
            ],
        )
        return bytes(row[0] or b"")
    raise ValueError(f"No such layer: {layer.name}")


def _reports(
    tile: Tile,
    filters: LayerFilters,
    scope: PlannerScope | None,
    generation: int | None,
    extent: BBox | None,
    run: Run,
) -> bytes:
    """Report points where a tile has at most TILES_MAX_FEATURES of them (from
    TILES_REPORT_POINTS_MIN_ZOOM on), else their counts in a grid of squares: from the
    live generation's finest cells when no filter picks reports by what they say (reasons,
    time band, dates), else from the reports."""
    selection = filters.selection
    area = filters.area.pk if filters.area is not None else None
    conditions = [
        _areas(scope),
        area,
        selection.reason_mask or None,
        BANDS.index(filters.time_band) if filters.time_band is not None else None,
        filters.since,
        filters.until,
    ]
    zxy = [tile.z, tile.x, tile.y]
    bbox = mercator_box(filters.bbox) if filters.bbox is not None else None
    if tile.z >= settings.TILES_REPORT_POINTS_MIN_ZOOM:
        search = intersection(tile.buffered(), extent)
        search = intersection(search, bbox) if search is not None else None
        if search is None:
            return b""
        count, body = run(
            REPORT_POINTS,
            [*zxy, *wgs84_box(search), *conditions, settings.TILES_MAX_FEATURES],
        )
        if count <= settings.TILES_MAX_FEATURES:
            return bytes(body or b"") if count else b""
    # Counted: the tile without its buffer, so that no report counts in two tiles.
    search = intersection(tile.bounds, extent)
    search = intersection(search, bbox) if search is not None else None
    if search is None:
        return b""
    if selection.everything and generation is not None:
        (body,) = run(
            REPORT_CELL_COUNTS,
            [
                *zxy,
                *search,
                _areas(scope),
                area,
                generation,
                min(settings.HOTSPOT_RESOLUTIONS),
                settings.ANALYSIS_SRID,
                report_grid_side(),
            ],
        )
    else:
        (body,) = run(REPORT_CELLS, [*zxy, *wgs84_box(search), *conditions, report_grid_side()])
    return bytes(body or b"")


def _assets(
    layer: Layer,
    tile: Tile,
    filters: LayerFilters,
    scope: PlannerScope | None,
    extent: BBox | None,
    run: Run,
) -> bytes:
    """Street lights or cameras: each where a tile has at most TILES_MAX_FEATURES of them
    (from TILES_ASSET_POINTS_MIN_ZOOM on), else their counts in a grid of squares, as for
    reports. Bristol alone has some 49,000 lights: a whole city in one tile is counted."""
    points, cells = (
        (STREETLIGHT_POINTS, STREETLIGHT_CELLS)
        if layer is STREETLIGHTS
        else (CAMERA_POINTS, CAMERA_CELLS)
    )
    conditions = [_areas(scope), filters.area.pk if filters.area is not None else None]
    zxy = [tile.z, tile.x, tile.y]
    bbox = mercator_box(filters.bbox) if filters.bbox is not None else None
    if tile.z >= settings.TILES_ASSET_POINTS_MIN_ZOOM:
        search = intersection(tile.buffered(), extent)
        search = intersection(search, bbox) if search is not None else None
        if search is None:
            return b""
        count, body = run(
            points, [*zxy, *wgs84_box(search), *conditions, settings.TILES_MAX_FEATURES]
        )
        if count <= settings.TILES_MAX_FEATURES:
            return bytes(body or b"") if count else b""
    # Counted: the tile without its buffer, so that no asset counts in two tiles.
    search = intersection(tile.bounds, extent)
    search = intersection(search, bbox) if search is not None else None
    if search is None:
        return b""
    (body,) = run(cells, [*zxy, *wgs84_box(search), *conditions, report_grid_side()])
    return bytes(body or b"")


def _coverage_gaps(
    tile: Tile,
    filters: LayerFilters,
    scope: PlannerScope | None,
    generation: int | None,
    search: BBox,
    need: Need,
    run: Run,
) -> bytes:
    """Hexagons of demand for ``need`` that no working asset covers, at the resolution
    the zoom calls for (or ``resolution``), as the hotspots are drawn; ``search`` in WGS84."""
    assert scope is not None
    statement = coverage_gap_statement(need)
    in_bbox = mercator_box(filters.bbox) if filters.bbox is not None else (None,) * 4
    params = {
        **coverage_cells_params(
            need,
            box=search,
            area_ids=scope.area_ids,
            area=filters.area,
            resolution=filters.resolution_or(hotspot_resolution(tile.z)),
            generation=generation,
        ),
        "z": tile.z,
        "x": tile.x,
        "y": tile.y,
        **dict(zip(("bxmin", "bymin", "bxmax", "bymax"), in_bbox, strict=True)),
    }
    (body,) = run(statement, statement.values(params))
    return bytes(body or b"")
