"""Street lights and cameras: importing them, and the version of what is loaded.

Anything drawn or answered from the assets (tiles, coverage, priorities) is cached under
``assets_version()``, which moves on whenever an asset is written or deleted.

``assets_import`` reads street lights or cameras from any file GDAL reads (a CSV through
Python's csv module, which is faster) and upserts them by external id per owner.
"""

import csv
import math
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from ctypes import c_char_p, c_double, c_int, c_int64, c_void_p
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.gis.gdal import DataSource, GDALException
from django.contrib.gis.gdal.libgdal import lgdal
from django.contrib.gis.geos import Point
from django.core.cache import cache
from django.db import DatabaseError, connection, transaction
from django.db.models import CharField
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from redis.exceptions import RedisError

from geo.models import Asset, Camera, Intervention, Organisation, Streetlight

ASSETS_VERSION_KEY = "geo:assets-version"


def assets_version() -> int:
    """A number that changes whenever any street light or camera changes."""
    try:
        return int(cache.get(ASSETS_VERSION_KEY, 0))
    except RedisError:  # without the cache nothing is cached under it either
        return 0


def assets_changed() -> None:
    """Make everything cached under the assets version stale (after an import, say)."""
    try:
        cache.incr(ASSETS_VERSION_KEY)
    except ValueError:  # not set yet
        cache.set(ASSETS_VERSION_KEY, 1, timeout=None)
    except RedisError:
        pass


@receiver(post_save, sender=Streetlight)
@receiver(post_delete, sender=Streetlight)
@receiver(post_save, sender=Camera)
@receiver(post_delete, sender=Camera)
def _asset_changed(**kwargs: Any) -> None:
    assets_changed()


# --- Importing street lights and cameras -------------------------------------------------
#
# A file is read in Python only to parse and check each value; the rows that pass stream to
# the database in one COPY into a temporary table (the database takes in one part while
# Python reads the next), and PostGIS does the rest in a few set-based statements: the
# transformations (to WGS84, for a file in another system, and to ANALYSIS_SRID) and one
# statement that creates, updates or leaves alone each asset.

LIGHT = "light"
CAMERA = "camera"
ASSET_KINDS = (LIGHT, CAMERA)
WGS84 = 4326
# A file without an id column gets ids made from each point's position in WGS84, rounded
# to this many decimals (about 0.1 m), so that importing it again finds the same assets.
POSITION_DECIMALS = 6
POSITION_ID_PREFIX = "pos:"
# An import that adds at least this many assets, and at least as many as the table holds,
# drops the table's indexes and builds them again at the end: building a GiST index once
# costs a fraction of updating it row by row.
BULK_MIN_ROWS = 10_000
# Rows read between two calls of the progress callback.
PROGRESS_EVERY = 5_000
# Read with Python's csv module, which is faster; anything else goes through GDAL.
CSV_SUFFIXES = (".csv", ".tsv")
CSV_DELIMITERS = (",", ";", "\t", "|")
# The columns a CSV's coordinates are looked for in when no option names them.
LONGITUDE_NAMES = ("longitude", "lon", "lng", "long")
LATITUDE_NAMES = ("latitude", "lat")
EXTERNAL_ID_MAX_LENGTH = 100
# The largest whole number an integer column holds.
_INT_MAX = 2**31 - 1
# Values of a "working" field, compared in lower case with spaces squeezed.
WORKING_WORDS = frozenset(
    {"true", "t", "yes", "y", "1", "working", "ok", "on", "in service", "in use", "lit"}
)
FAULTY_WORDS = frozenset(
    {"false", "f", "no", "n", "0", "faulty", "fault", "broken", "off", "not working",
     "out of service", "out of use", "unlit", "defective"}
)  # fmt: skip
# A wattage or a range: a number, perhaps with its unit.
_WHOLE_NUMBER = re.compile(
    r"(?P<number>\d+(?:\.\d*)?|\.\d+)\s*(?:w|watts?|m|metres?|meters?)?", re.IGNORECASE
)
_SPACES = re.compile(r"\s+")


class AssetImportError(Exception):
    """Something that stops the whole import: a file, layer, field or option that cannot be
    used as given. The message starts with the option (or FILE) it is about."""


@dataclass(frozen=True)
class AssetFields:
    """The fields that hold each attribute; None where the file has none.

    An attribute whose field is not given is left as it is on assets already stored, and is
    the model's default on new ones.
    """

    label: str | None = None
    working: str | None = None
    # Street lights only.
    lamp_type: str | None = None
    wattage: str | None = None
    # Cameras only: the field classified into a kind (camera_kind_of), and the range.
    kind: str | None = None
    range_m: str | None = None


# The command-line option that names each field, for messages.
FIELD_OPTIONS = {
    "external_id": "--id-field",
    "label": "--label-field",
    "working": "--working-field",
    "lamp_type": "--lamp-type-field",
    "wattage": "--wattage-field",
    "kind": "--kind-field",
    "range_m": "--range-field",
}
# The attributes an import may set (as staged, in this order), and those of one kind only.
_ATTRIBUTES = ("label", "working", "lamp_type", "wattage", "kind", "range_m")
_KIND_ATTRIBUTES = {LIGHT: ("lamp_type", "wattage"), CAMERA: ("kind", "range_m")}


@dataclass(frozen=True)
class SkippedRow:
    """A row that was not stored: where it is in the file and why."""

    # A CSV's row as a spreadsheet numbers it (the header is row 1); for other formats the
    # feature's id (FID), as GDAL and QGIS number it.
    number: int
    reason: str
    unit: str = "row"

    def __str__(self) -> str:
        return f"{self.unit} {self.number}: {self.reason}"


@dataclass(frozen=True)
class AssetImportResult:
    # What was read: the file, its layer and coordinate system.
    source: str
    # Rows with data read (blank CSV lines are not rows).
    rows: int
    created: int
    updated: int
    # Stored already with the same position and attributes: not written at all.
    unchanged: int
    skipped: list[SkippedRow]
    seconds: float
    # With prune: the owner's assets of this kind that the file no longer lists, deleted;
    # None when not asked, or when rows were skipped (see PRUNE_REFUSED).
    pruned: int | None = None
    prune_refused: str | None = None

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


# Called while reading with the rows read so far and the number expected.
ImportProgress = Callable[[int, int], None]


def camera_kind_of(value: str | None, *, default: str = Camera.Kind.PUBLIC_SPACE) -> str:
    """A camera's kind from free text such as Sheffield's notes ("ITS Traffic Camera"):
    traffic when it mentions traffic, private when it mentions private, else the default."""
    text = (value or "").lower()
    if "traffic" in text:
        return Camera.Kind.TRAFFIC
    if "private" in text:
        return Camera.Kind.PRIVATE
    return default


def assets_import(
    *,
    kind: str,
    path: str | Path,
    layer: str | None = None,
    id_field: str | None = None,
    lon_field: str | None = None,
    lat_field: str | None = None,
    x_field: str | None = None,
    y_field: str | None = None,
    srid: int | None = None,
    organisation: Organisation | None = None,
    fields: AssetFields | None = None,
    camera_kind: str | None = None,
    prune: bool = False,
    progress: ImportProgress | None = None,
) -> AssetImportResult:
    """Creates or updates the street lights or cameras of one layer of a file.

    Assets are matched by external id within their owner (``organisation``, or None for
    open data): the ``id_field``'s value, or without one an id made from the position
    (POSITION_DECIMALS; several rows at one position are numbered in file order), so that
    importing a file again updates its assets instead of adding them twice. Coordinates
    come from the layer's geometry, from ``lon_field`` and ``lat_field`` (WGS84), or from
    ``x_field`` and ``y_field`` in ``srid``; a CSV with columns named longitude and
    latitude (or lon/lng and lat) needs none of them. ``camera_kind`` is the kind of the
    cameras that ``fields.kind`` does not call traffic or private (of every camera without
    it); left out, new cameras are public-space ones and stored ones keep theirs.

    ``prune`` makes the file the whole register: the owner's assets of this kind whose
    external ids it does not list are deleted (interventions keep their own location). It
    is done only when every row was stored, since a skipped row may be an asset still
    standing; otherwise nothing is deleted and ``prune_refused`` says why.

    Rows that cannot be stored (no or bad coordinates, a value that is not what its field
    should hold, an id already seen in the file) are skipped and returned with their row
    or feature number; the rest are stored, all in one transaction. Raises
    ``AssetImportError`` when nothing can be imported as asked.
    """
    started = time.monotonic()
    if kind not in ASSET_KINDS:
        raise AssetImportError(f"--kind: {kind!r} is not one of {', '.join(ASSET_KINDS)}")
    plan = _Plan.make(
        kind=kind,
        id_field=id_field,
        lon_field=lon_field,
        lat_field=lat_field,
        x_field=x_field,
        y_field=y_field,
        srid=srid,
        fields=fields or AssetFields(),
        camera_kind=camera_kind,
    )
    reader = _open_reader(Path(path), layer=layer, plan=plan)
    if reader.srid != WGS84:
        _check_srid(reader.srid, option="--srid" if srid is not None else "FILE")
    try:
        staged, text = _read(reader, plan, progress)
        with transaction.atomic(), connection.cursor() as cursor:
            created, updated, unstored, pruned = _store(
                cursor, staged, text, plan, reader, organisation, transform=_TRANSFORM, prune=prune
            )
    except _TransformRefused:
        # Rare (a point far outside the analysis system's domain, or a bad one in the file's
        # own system): reading the file again costs less than guarding every import.
        staged, text = _read(reader, plan, None)
        with transaction.atomic(), connection.cursor() as cursor:
            created, updated, unstored, pruned = _store(
                cursor,
                staged,
                text,
                plan,
                reader,
                organisation,
                transform=_SAFE_TRANSFORM,
                prune=prune,
            )
    assets_changed()
    skipped = sorted(staged.skipped + unstored, key=lambda skipped: skipped.number)
    return AssetImportResult(
        source=reader.description,
        rows=staged.rows,
        created=created,
        updated=updated,
        unchanged=staged.good - len(unstored) - created - updated,
        skipped=skipped,
        seconds=time.monotonic() - started,
        pruned=pruned,
        prune_refused=PRUNE_REFUSED.format(skipped=len(skipped)) if prune and skipped else None,
    )


@dataclass(frozen=True)
class _Plan:
    """What to read from each row, checked before any file is opened."""

    kind: str
    id_field: str | None
    # The coordinate fields (None: the layer's geometry), whether they are longitude and
    # latitude, and their SRID (None: the layer's own).
    x_field: str | None
    y_field: str | None
    lonlat_fields: bool
    srid: int | None
    fields: AssetFields
    camera_kind: str | None

    @classmethod
    def make(
        cls,
        *,
        kind: str,
        id_field: str | None,
        lon_field: str | None,
        lat_field: str | None,
        x_field: str | None,
        y_field: str | None,
        srid: int | None,
        fields: AssetFields,
        camera_kind: str | None,
    ) -> "_Plan":
        lonlat = lon_field is not None or lat_field is not None
        xy = x_field is not None or y_field is not None
        if lonlat and xy:
            raise AssetImportError(
                "--lon-field/--lat-field and --x-field/--y-field: give one pair, not both"
            )
        for given, ((first, first_option), (second, second_option)) in (
            (lonlat, ((lon_field, "--lon-field"), (lat_field, "--lat-field"))),
            (xy, ((x_field, "--x-field"), (y_field, "--y-field"))),
        ):
            if given and first is None:
                raise AssetImportError(f"{first_option}: needed with {second_option}")
            if given and second is None:
                raise AssetImportError(f"{second_option}: needed with {first_option}")
        if srid is not None and srid < 1:
            raise AssetImportError(f"--srid: {srid} is not an EPSG code")
        if xy and srid is None:
            raise AssetImportError(
                "--srid: needed with --x-field and --y-field, the EPSG code of their "
                "coordinates (27700 for British National Grid eastings and northings)"
            )
        if lonlat and srid is not None and srid != WGS84:
            raise AssetImportError(
                "--srid: longitude and latitude are WGS84 (EPSG:4326); give other "
                "coordinates with --x-field and --y-field"
            )
        other = CAMERA if kind == LIGHT else LIGHT
        for attribute in _KIND_ATTRIBUTES[other]:
            if getattr(fields, attribute) is not None:
                raise AssetImportError(f"{FIELD_OPTIONS[attribute]}: only with --kind {other}")
        if camera_kind is not None:
            if kind != CAMERA:
                raise AssetImportError("--camera-kind: only with --kind camera")
            if camera_kind not in Camera.Kind.values:
                raise AssetImportError(
                    f"--camera-kind: {camera_kind!r} is not one of {', '.join(Camera.Kind.values)}"
                )
        return cls(
            kind=kind,
            id_field=id_field,
            x_field=lon_field if lonlat else x_field,
            y_field=lat_field if lonlat else y_field,
            lonlat_fields=lonlat,
            srid=WGS84 if lonlat else srid,
            fields=fields,
            camera_kind=camera_kind,
        )

    def read(self) -> list[tuple[str, str]]:
        """(name, field) of each value read besides the coordinates: the id, then the
        attributes."""
        found = [("external_id", self.id_field)] + [
            (name, getattr(self.fields, name)) for name in _ATTRIBUTES
        ]
        return [(name, field) for name, field in found if field is not None]

    def written(self) -> list[str]:
        """The attribute columns the import sets on assets already stored."""
        names = [name for name, _ in self.read() if name != "external_id"]
        if self.camera_kind is not None and "kind" not in names:
            names.append("kind")
        return names


# A row as read: its number, its coordinates (text from fields, or numbers from a
# geometry) and the text of each value of _Plan.read() (None where empty); or why it
# has no point.
_RawRow = tuple[int, Any, Any, list[str | None]]


class _Reader:
    """One layer of a file, opened and checked against the plan."""

    description: str
    # "row" or "feature": what the numbers in messages count.
    unit: str
    # The SRID of the coordinates read: the plan's, the layer's, or WGS84.
    srid: int
    # The layer has no spatial reference, so WGS84 was assumed.
    srid_assumed: bool = False
    # What the coordinates are called in messages.
    x_name: str
    y_name: str
    # The coordinates are read as text from fields, not as numbers from a geometry.
    text_coordinates: bool = True
    # The number of rows expected, for progress.
    expected: int

    def rows(self) -> Iterator[_RawRow | SkippedRow]:
        raise NotImplementedError


def _open_reader(path: Path, *, layer: str | None, plan: _Plan) -> _Reader:
    if not path.exists():
        raise AssetImportError(f"FILE: no such file: {path}")
    if path.is_file() and path.suffix.lower() in CSV_SUFFIXES:
        return _CsvReader(path, layer=layer, plan=plan)
    return _GdalReader(path, layer=layer, plan=plan)


def _check_fields(plan: _Plan, where: str, fields: Sequence[str]) -> None:
    wanted: list[tuple[str, str | None]] = [(FIELD_OPTIONS[n], f) for n, f in plan.read()]
    if plan.x_field is not None:
        names = ("--lon-field", "--lat-field") if plan.lonlat_fields else ("--x-field", "--y-field")
        wanted += [(names[0], plan.x_field), (names[1], plan.y_field)]
    for option, wanted_field in wanted:
        if wanted_field is not None and wanted_field not in fields:
            raise AssetImportError(
                f"{option}: {where} has no field {wanted_field!r}; its fields are: "
                f"{', '.join(fields) or 'none'}"
            )


class _CsvReader(_Reader):
    """A CSV read with Python's csv module: the fast path for the commonest register."""

    unit = "row"

    def __init__(self, path: Path, *, layer: str | None, plan: _Plan) -> None:
        if layer is not None and layer != path.stem:
            raise AssetImportError(f"--layer: {path} is a CSV file, with one layer {path.stem!r}")
        self.path = path
        try:
            with path.open(newline="", encoding="utf-8-sig") as f:
                first = f.readline()
        except (OSError, UnicodeDecodeError) as error:
            raise AssetImportError(f"FILE: {path} cannot be read as text: {error}") from error
        self.delimiter = max(CSV_DELIMITERS, key=first.count)
        header = [name.strip() for name in next(csv.reader([first], delimiter=self.delimiter))]
        if plan.x_field is None or plan.y_field is None:
            x_field = _find_column(header, LONGITUDE_NAMES)
            y_field = _find_column(header, LATITUDE_NAMES)
            if x_field is None or y_field is None:
                raise AssetImportError(
                    f"--lon-field/--lat-field: {path} has no longitude and latitude columns "
                    "(such as longitude, latitude): name them with --lon-field and "
                    "--lat-field, or give --x-field, --y-field and --srid; its fields are: "
                    f"{', '.join(header) or 'none'}"
                )
            if plan.srid not in (None, WGS84):
                raise AssetImportError(
                    f"--srid: the columns {x_field!r} and {y_field!r} are longitude and "
                    "latitude (WGS84); give other coordinates with --x-field and --y-field"
                )
            self.srid = WGS84
        else:
            x_field, y_field = plan.x_field, plan.y_field
            assert plan.srid is not None  # checked in _Plan.make
            self.srid = plan.srid
        _check_fields(plan, str(path), header)
        self.x_name, self.y_name = x_field, y_field
        self.indexes = [header.index(field) for _, field in plan.read()]
        self.x_index, self.y_index = header.index(x_field), header.index(y_field)
        self.description = f"{path} (CSV, EPSG:{self.srid})"
        self.expected = max(_count_lines(path) - 1, 0)

    def rows(self) -> Iterator[_RawRow | SkippedRow]:
        x_index, y_index, indexes = self.x_index, self.y_index, self.indexes
        needed = max([x_index, y_index, *indexes]) + 1
        try:
            with self.path.open(newline="", encoding="utf-8-sig") as f:
                reader = csv.reader(f, delimiter=self.delimiter)
                next(reader, None)
                # Row 1 is the header, as a spreadsheet shows it; a blank line is a row too.
                for number, record in enumerate(reader, start=2):
                    if len(record) < needed:
                        record = record + [""] * (needed - len(record))
                    if not record[x_index] and not any(value.strip() for value in record):
                        continue
                    yield (
                        number,
                        record[x_index],
                        record[y_index],
                        # (A comprehension costs a call even when it has nothing to do.)
                        [record[i].strip() or None for i in indexes] if indexes else [],
                    )
        except (UnicodeDecodeError, csv.Error) as error:
            raise AssetImportError(f"FILE: {self.path} cannot be read as CSV: {error}") from error


def _find_column(header: Sequence[str], names: Sequence[str]) -> str | None:
    lowered = {name.lower(): name for name in header}
    return next((lowered[name] for name in names if name in lowered), None)


def _count_lines(path: Path) -> int:
    count = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            count += chunk.count(b"\n")
    return count


def _c_function(name: str, argtypes: list[Any], restype: Any) -> Any:
    # Our own function objects (lgdal[name] makes a new one each time): Django declares the
    # same C functions with error checks that raise on a NULL geometry or field.
    function = lgdal[name]
    function.argtypes = argtypes
    function.restype = restype
    return function


_next_feature = _c_function("OGR_L_GetNextFeature", [c_void_p], c_void_p)
_reset_reading = _c_function("OGR_L_ResetReading", [c_void_p], None)
_destroy_feature = _c_function("OGR_F_Destroy", [c_void_p], None)
_feature_fid = _c_function("OGR_F_GetFID", [c_void_p], c_int64)
_feature_geometry = _c_function("OGR_F_GetGeometryRef", [c_void_p], c_void_p)
_field_is_set = _c_function("OGR_F_IsFieldSetAndNotNull", [c_void_p, c_int], c_int)
_field_as_string = _c_function("OGR_F_GetFieldAsString", [c_void_p, c_int], c_char_p)
_geometry_type = _c_function("OGR_G_GetGeometryType", [c_void_p], c_int)
_flatten_type = _c_function("OGR_GT_Flatten", [c_int], c_int)
_geometry_name = _c_function("OGR_G_GetGeometryName", [c_void_p], c_char_p)
_geometry_is_empty = _c_function("OGR_G_IsEmpty", [c_void_p], c_int)
_geometry_count = _c_function("OGR_G_GetGeometryCount", [c_void_p], c_int)
_sub_geometry = _c_function("OGR_G_GetGeometryRef", [c_void_p, c_int], c_void_p)
_point_x = _c_function("OGR_G_GetX", [c_void_p, c_int], c_double)
_point_y = _c_function("OGR_G_GetY", [c_void_p, c_int], c_double)
_WKB_POINT = 1
_WKB_MULTIPOINT = 4
_WKB_NONE = 100


class _GdalReader(_Reader):
    """Any vector layer GDAL reads: GeoJSON, Shapefile, GeoPackage, and the rest.

    Features are read through OGR's C functions directly: a point's two numbers and a few
    fields as text, with no geometry or feature object made in Python for each row.
    """

    unit = "feature"

    def __init__(self, path: Path, *, layer: str | None, plan: _Plan) -> None:
        try:
            self.source = DataSource(str(path))
        except GDALException as error:
            raise AssetImportError(
                f"FILE: GDAL cannot read {path} as vector data ({error})"
            ) from error
        names = [self.source[i].name for i in range(len(self.source))]
        if layer is None and len(names) != 1:
            raise AssetImportError(
                f"--layer: {path} has {len(names)} layers; choose one of: {', '.join(names)}"
            )
        if layer is not None and layer not in names:
            raise AssetImportError(
                f"--layer: {path} has no layer {layer!r}; its layers are: {', '.join(names)}"
            )
        self.layer = self.source[layer if layer is not None else 0]
        where = f"layer {self.layer.name!r} of {path}"
        fields = list(self.layer.fields)
        _check_fields(plan, where, fields)
        self.indexes = [fields.index(field) for _, field in plan.read()]
        self.use_geometry = plan.x_field is None
        self.text_coordinates = not self.use_geometry
        if plan.x_field is not None and plan.y_field is not None:
            self.x_name, self.y_name = plan.x_field, plan.y_field
            self.indexes += [fields.index(plan.x_field), fields.index(plan.y_field)]
            assert plan.srid is not None  # checked in _Plan.make
            self.srid = plan.srid
        else:
            if self.layer.geom_type.num == _WKB_NONE:
                raise AssetImportError(
                    f"--lon-field/--lat-field: {where} has no geometry: name the fields "
                    "holding the coordinates with --lon-field and --lat-field, or with "
                    "--x-field, --y-field and --srid"
                )
            self.x_name, self.y_name = "x", "y"
            self.srid = plan.srid if plan.srid is not None else self._layer_srid(where)
        srs = f"no SRS: read as EPSG:{self.srid}" if self.srid_assumed else f"EPSG:{self.srid}"
        self.description = f"{where} ({srs})"
        self.expected = len(self.layer)

    def _layer_srid(self, where: str) -> int:
        srs = self.layer.srs
        if srs is None:
            # GeoJSON without a "crs" member, say: WGS84 by the standard.
            self.srid_assumed = True
            return WGS84
        if srs.srid is None:
            srs.identify_epsg()
        if srs.srid is None:
            raise AssetImportError(
                f"--srid: the spatial reference of {where} ({srs.name}) has no EPSG code; "
                "give the code with --srid"
            )
        return int(srs.srid)

    def rows(self) -> Iterator[_RawRow | SkippedRow]:
        layer, indexes, use_geometry = self.layer.ptr, self.indexes, self.use_geometry
        _reset_reading(layer)
        while feature := _next_feature(layer):
            try:
                number = int(_feature_fid(feature))
                values: list[str | None] = [
                    (_decode(_field_as_string(feature, i)).strip() or None)
                    if _field_is_set(feature, i)
                    else None
                    for i in indexes
                ]
                if not use_geometry:
                    y = values.pop() or ""
                    x = values.pop() or ""
                    yield number, x, y, values
                    continue
                point = _point_of(_feature_geometry(feature))
                if isinstance(point, str):
                    yield SkippedRow(number, point, self.unit)
                else:
                    yield number, point[0], point[1], values
            finally:
                _destroy_feature(feature)


def _point_of(geometry: int | None) -> tuple[float, float] | str:
    """A geometry's point (also of a multipoint of one point), or why it has none."""
    if not geometry or _geometry_is_empty(geometry):
        return "no geometry"
    kind = _flatten_type(_geometry_type(geometry))
    if kind == _WKB_MULTIPOINT and _geometry_count(geometry) == 1:
        geometry, kind = _sub_geometry(geometry, 0), _WKB_POINT
    if kind != _WKB_POINT:
        return f"a {_decode(_geometry_name(geometry)).lower()}, not a point"
    return float(_point_x(geometry, 0)), float(_point_y(geometry, 0))


def _decode(value: bytes | None) -> str:
    return "" if value is None else value.decode("utf-8", errors="replace")


def _check_srid(srid: int, *, option: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM spatial_ref_sys WHERE srid = %s", [srid])
        if cursor.fetchone() is None:
            raise AssetImportError(f"{option}: PostGIS does not know EPSG:{srid}")


@dataclass
class _Staged:
    """What reading found: counted while the rows' text streams into COPY, so complete only
    once COPY has taken all of it."""

    unit: str
    # The ids were made from the positions in Python (for WGS84 coordinates); else the
    # database makes them after transforming the points.
    has_ids: bool
    # Rows read, and of them those staged.
    rows: int = 0
    good: int = 0
    skipped: list[SkippedRow] = field(default_factory=list)


# The temporary table's columns that _read writes, before the attributes read.
_STAGING_COLUMNS = ("seq", "row", "external_id", "x", "y")
# Rows sent to COPY at a time: the database parses one part while Python reads the next.
COPY_ROWS = 2_000
# Numbers that float() read and that are written with only these characters (no exponent,
# spaces or underscores), and too short to overflow or underflow, are ones the database
# reads as the same floats: coordinates written so (both together, as one string) go to
# COPY as they were read, which is cheaper than writing the parsed numbers again.
_PLAIN_COORDINATES = re.compile(r"[-+.0-9]{2,200}").fullmatch
_POSITION_ID = f"{POSITION_ID_PREFIX}%.{POSITION_DECIMALS}f,%.{POSITION_DECIMALS}f"


def _read(
    reader: _Reader, plan: _Plan, progress: ImportProgress | None
) -> tuple[_Staged, Iterator[str]]:
    """The rows' text for COPY, made as it is taken, and what reading them found."""
    staged = _Staged(unit=reader.unit, has_ids=plan.id_field is not None or reader.srid == WGS84)
    return staged, _copy_text(reader, plan, staged, progress)


def _copy_text(
    reader: _Reader, plan: _Plan, staged: _Staged, progress: ImportProgress | None
) -> Iterator[str]:
    """Every row parsed and checked, the good ones as COPY's text, COPY_ROWS at a time.

    The loop is the only Python that runs per row, so it is kept plain: one call to parse
    each value read, none for the coordinates unless they are bad.
    """
    lines: list[str] = []
    write = lines.append
    names = [name for name, _ in plan.read()]
    parsers = [_parser(plan, name, field) for name, field in plan.read()]
    id_at = names.index("external_id") if "external_id" in names else None
    # The attributes read (_staged_columns), each after a tab; none: the staging table's
    # defaults.
    attributes = [at for at, name in enumerate(names) if name != "external_id"]
    tail = ""
    lonlat = reader.srid == WGS84
    # A layer's geometry gives numbers, fields give text.
    text_coordinates = reader.text_coordinates
    plain = _PLAIN_COORDINATES
    position_id = _POSITION_ID
    # Each id's first row: its place among the rows read, and its number in the file.
    first_row: dict[str, tuple[int, int]] = {}
    positions: dict[str, int] = {}
    unit, expected, every = reader.unit, reader.expected, PROGRESS_EVERY
    # The id as COPY reads it: NULL until the database makes it from the position.
    id_text = "\\N"
    count = good = 0
    for raw in reader.rows():
        count += 1
        if count % every == 0 and progress is not None:
            progress(count, max(expected, count))
        if isinstance(raw, SkippedRow):
            staged.skipped.append(raw)
            continue
        number, x_raw, y_raw, values = raw
        try:
            try:
                x, y = float(x_raw), float(y_raw)
            except ValueError:
                x, y = _number(x_raw, reader.x_name), _number(y_raw, reader.y_name)
            if lonlat:
                # False for infinities and NaN too.
                if not (-180 <= x <= 180 and -90 <= y <= 90):
                    raise ValueError(
                        _out_of_range(reader, x, y, from_geometry=not text_coordinates)
                    )
            elif not (math.isfinite(x) and math.isfinite(y)):
                raise ValueError(f"the coordinates ({x_raw}, {y_raw}) are not finite numbers")
            parsed: list[Any] = (
                [parse(value) for parse, value in zip(parsers, values, strict=True)]
                if parsers
                else values
            )
            if id_at is not None:
                given = parsed[id_at]
                first = first_row.setdefault(given, (count, number))
                if first[0] != count:
                    raise ValueError(
                        f"the id {given!r} is also on {unit} {first[1]}, which is kept"
                    )
                id_text = _copy_text_of(given)
            elif lonlat:
                # As "{:.6f}".format writes them, in a third of the time.
                id_text = position_id % (x, y)
                nth = positions[id_text] = positions.get(id_text, 0) + 1
                if nth > 1:
                    id_text = f"{id_text}#{nth}"
        except ValueError as error:
            staged.skipped.append(SkippedRow(number, str(error), unit))
            continue
        good += 1
        if attributes:
            tail = "".join(["\t" + _copy_text_of(parsed[at]) for at in attributes])
        if not (text_coordinates and plain(x_raw + y_raw)):
            x_raw, y_raw = repr(x), repr(y)
        write(f"{count}\t{number}\t{id_text}\t{x_raw}\t{y_raw}{tail}\n")
        if len(lines) == COPY_ROWS:
            yield "".join(lines)
            lines.clear()
    staged.rows, staged.good = count, good
    if progress is not None:
        progress(count, count)
    yield "".join(lines)


class _CopyStream:
    """What COPY reads (psycopg2 calls ``read``): the staged text, made part by part while
    the database takes in the part before.

    An error while reading ends the text early and is kept in ``error``, to be raised once
    COPY has finished: psycopg2 would replace it by its own.
    """

    def __init__(self, parts: Iterator[str]) -> None:
        self.parts = parts
        self.error: Exception | None = None

    def read(self, size: int = -1) -> str:
        if self.error is not None:
            return ""
        try:
            return next(self.parts, "")
        except Exception as error:
            self.error = error
            return ""


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text_of(value: Any) -> str:
    """A value as COPY's text format writes it: \\N for NULL, special characters escaped."""
    if value is None:
        return "\\N"
    return str(value).translate(_COPY_ESCAPES)


def _staged_columns(plan: _Plan) -> list[str]:
    """The staging table's columns that COPY fills, in the order _read writes them."""
    return [*_STAGING_COLUMNS, *(name for name, _ in plan.read() if name != "external_id")]


def _number(raw: str, name: str) -> float:
    text = str(raw).strip()
    if not text:
        raise ValueError(f"no {name}")
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{name} {text!r} is not a number") from None


def _out_of_range(reader: _Reader, x: float, y: float, *, from_geometry: bool) -> str:
    hint = ""
    if reader.srid_assumed:
        hint = "; the layer has no spatial reference: if it is not WGS84, give --srid"
    if from_geometry:
        return f"the point ({x:g}, {y:g}) is not a longitude and latitude{hint}"
    if not -180 <= x <= 180:
        return f"{reader.x_name} {x:g} is out of range (-180 to 180){hint}"
    return f"{reader.y_name} {y:g} is out of range (-90 to 90){hint}"


def _parser(plan: _Plan, name: str, field_name: str) -> Callable[[str | None], Any]:
    """How a value is read, raising ValueError with a message naming the field and value."""
    if name == "external_id":
        return partial(_external_id, field_name=field_name)
    if name in ("label", "lamp_type"):
        model = Streetlight if plan.kind == LIGHT else Camera
        column = model._meta.get_field(name)
        assert isinstance(column, CharField)
        return partial(_text, limit=column.max_length)
    if name == "working":
        return partial(_working, field_name=field_name)
    if name in ("wattage", "range_m"):
        return partial(_whole_number, field_name=field_name)
    assert name == "kind"
    return partial(camera_kind_of, default=plan.camera_kind or Camera.Kind.PUBLIC_SPACE)


def _external_id(value: str | None, *, field_name: str) -> str:
    if value is None:
        raise ValueError(f"no id in {field_name!r}")
    if len(value) > EXTERNAL_ID_MAX_LENGTH:
        raise ValueError(
            f"the id {value[:20]!r}... in {field_name!r} is longer than "
            f"{EXTERNAL_ID_MAX_LENGTH} characters"
        )
    return value


def _text(value: str | None, *, limit: int | None) -> str:
    # Cut rather than refused: a long street name still names the right street.
    return (value or "")[:limit]


def _working(value: str | None, *, field_name: str) -> str | None:
    """'t' or 'f' as COPY reads them; None (working, for a new asset) when empty."""
    if value is None:
        return None
    word = _SPACES.sub(" ", value.lower())
    if word in WORKING_WORDS:
        return "t"
    if word in FAULTY_WORDS:
        return "f"
    raise ValueError(
        f"{field_name} {value!r} is neither working nor faulty (yes/no, true/false, 1/0, "
        "working/faulty)"
    )


def _whole_number(value: str | None, *, field_name: str) -> int | None:
    if value is None:
        return None
    match = _WHOLE_NUMBER.fullmatch(value)
    if match is None:
        raise ValueError(f"{field_name} {value!r} is not a number")
    number = round(float(match["number"]))
    if number > _INT_MAX:
        raise ValueError(f"{field_name} {value!r} is too large")
    return number


class _TransformRefused(Exception):
    """PROJ refused to transform a point, failing a whole statement (and so the import's
    transaction): the import starts again with a transform that gives such a point NULL."""


# How the statements transform: ST_Transform, or (SAFE_TRANSFORM_SQL) a function that is
# slower but gives NULL for a point PROJ refuses.
_TRANSFORM = "ST_Transform"
_SAFE_TRANSFORM = "pg_temp.asset_transform"


def _store(
    cursor: Any,
    staged: _Staged,
    text: Iterator[str],
    plan: _Plan,
    reader: _Reader,
    organisation: Organisation | None,
    *,
    transform: str,
    prune: bool = False,
) -> tuple[int, int, list[SkippedRow], int | None]:
    """COPY, transform, write, prune: (created, updated, the rows the database could not
    place, the assets pruned or None)."""
    model: type[Asset] = Streetlight if plan.kind == LIGHT else Camera
    table = model._meta.db_table
    # Compiling these statements takes longer than running them uncompiled. The sorts and
    # hashes of tens of thousands of rows stay in memory.
    cursor.execute("SET LOCAL jit = off; SET LOCAL work_mem = '64MB'")
    cursor.execute(CREATE_STAGING_SQL)
    if transform == _SAFE_TRANSFORM:
        cursor.execute(SAFE_TRANSFORM_SQL)
    stream = _CopyStream(text)
    cursor.copy_expert(f"COPY asset_input ({', '.join(_staged_columns(plan))}) FROM STDIN", stream)
    if stream.error is not None:
        raise stream.error
    # Other imports and edits of this table wait from here on; readers do not. Nothing
    # else then adds or changes an asset between the count below and the writes, which
    # match the staged rows to what is stored without ON CONFLICT.
    cursor.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")

    unplaced: list[SkippedRow] = []
    if reader.srid == WGS84:
        # Checked in Python to be longitudes and latitudes: nothing to transform first.
        points = WGS84_POINTS_SQL
    else:
        points = "asset_ready"
        _transforming(
            cursor, READY_SQL.format(transform=transform), {"srid": reader.srid}, transform
        )
        cursor.execute(UNPLACEABLE_SQL)
        unplaced += _unplaced(cursor.fetchall(), staged, reader)
        if not staged.has_ids:
            cursor.execute(POSITION_IDS_SQL, {"prefix": POSITION_ID_PREFIX})

    owner = organisation.pk if organisation is not None else None
    owned = "organisation_id IS NULL" if owner is None else "organisation_id = %(owner)s"
    cursor.execute(
        f"SELECT count(*), count(*) FILTER (WHERE {owned}) FROM {table}", {"owner": owner}
    )
    (in_table, owners) = cursor.fetchone()
    first_import = owners == 0
    # At least this many assets are new: all the rows staged on a first import; else those
    # beyond the owner's assets, which at most that many of them can update.
    adding = staged.good - len(unplaced) - owners
    params = {
        "owner": owner,
        "analysis_srid": settings.ANALYSIS_SRID,
        "camera_kind": plan.camera_kind or Camera.Kind.PUBLIC_SPACE,
    }
    with _bulk_indexes(
        cursor,
        table,
        rebuild=adding >= max(BULK_MIN_ROWS, in_table),
        # Without conflicts to find, the unique index is built again too.
        unique_too=first_import,
    ):
        sql = _write_sql(
            plan,
            table=table,
            points=points,
            owned=owned,
            transform=transform,
            insert_only=first_import,
        )
        _transforming(cursor, sql, params, transform)
        (created, updated, unchanged) = (
            (cursor.rowcount, 0, 0) if first_import else cursor.fetchone()
        )
    # The rows written or left alone are those the analysis system placed: look for the
    # others only when there are any.
    if staged.good - len(unplaced) - created - updated - unchanged > 0:
        cursor.execute(SAFE_TRANSFORM_SQL)
        cursor.execute(UNPLACED_SQL.format(points=points), params)
        unplaced += _unplaced(cursor.fetchall(), staged, reader)
    pruned = None
    # A file with no rows at all is more likely a mistake than an empty register.
    if prune and staged.good and not staged.skipped and not unplaced:
        link = (
            Intervention.streetlight if plan.kind == LIGHT else Intervention.camera
        ).field.column
        cursor.execute(
            PRUNE_SQL.format(
                table=table,
                owned=owned,
                points=points,
                interventions=Intervention._meta.db_table,
                link=link,
            ),
            params,
        )
        (pruned,) = cursor.fetchone()
    cursor.execute(f"DROP TABLE asset_input{', asset_ready' if points == 'asset_ready' else ''}")
    return created, updated, unplaced, pruned


def _transforming(cursor: Any, sql: str, params: dict[str, Any], transform: str) -> None:
    """Runs a statement that transforms points with ``transform``; if it fails with
    ST_Transform, raises _TransformRefused to start the import again with the safe one."""
    try:
        cursor.execute(sql, params)
    except DatabaseError as error:
        if transform != _TRANSFORM:
            raise
        raise _TransformRefused from error


def _unplaced(
    found: list[tuple[int, float, float]], staged: _Staged, reader: _Reader
) -> list[SkippedRow]:
    """The rows (number, x, y as read) whose point could not be placed, as skipped."""
    return [
        SkippedRow(
            number,
            f"the point ({x:g}, {y:g}) in EPSG:{reader.srid} is not one that system can "
            "place on the earth",
            staged.unit,
        )
        for number, x, y in found
    ]


def _write_sql(
    plan: _Plan, *, table: str, points: str, owned: str, transform: str, insert_only: bool
) -> str:
    """The statement that writes the staged rows (``points``) whose point ANALYSIS_SRID
    places.

    When the owner has no assets of this kind yet, a plain INSERT, whose row count is what
    it created. Else one that matches the rows to the owner's assets by external id,
    inserts those without one, updates those stored with another position or attribute,
    leaves the rest, and returns how many it created, updated and left unchanged. Each
    point is transformed once, and only when it is written.
    """
    columns = ["label", "working", *_KIND_ATTRIBUTES[plan.kind]]
    written = plan.written()

    def insert(rows: str) -> str:
        return f"""
            INSERT INTO {table} (
                external_id, organisation_id, location, location_projected, updated_at,
                {", ".join(columns)}
            )
            SELECT r.external_id, %(owner)s, r.location, r.projected, now(),
                   {", ".join(_value(c, "r") for c in columns)}
            FROM (
                SELECT p.*, {transform}(p.location, %(analysis_srid)s) AS projected
                FROM {rows} p
                -- OFFSET 0 keeps the subquery whole, so that each point is transformed once.
                OFFSET 0
            ) r
            WHERE {PLACEABLE_SQL}
        """

    if insert_only:
        return insert(points)
    update = f"""
        UPDATE {table} t
        SET location = r.location, location_projected = r.projected, updated_at = now()
            {"".join(f", {c} = {_value(c, 'r')}" for c in written)}
        FROM (
            SELECT p.*, {transform}(p.location, %(analysis_srid)s) AS projected
            FROM staged p
            WHERE p.changed
            OFFSET 0
        ) r
        WHERE t.id = r.stored_id AND {PLACEABLE_SQL}
    """
    compared = ["location", *written]
    return f"""
        WITH staged AS MATERIALIZED (
            SELECT p.*, t.id AS stored_id,
                   t.id IS NOT NULL
                   AND ({", ".join(f"t.{c}" for c in compared)})
                       IS DISTINCT FROM ({", ".join(_value(c, "p") for c in compared)})
                   AS changed
            FROM {points} p
            LEFT JOIN {table} t ON t.{owned} AND t.external_id = p.external_id
        ),
        created AS (
            {insert("(SELECT * FROM staged WHERE stored_id IS NULL)")}
            RETURNING 1
        ),
        updated AS (
            {update}
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM created), (SELECT count(*) FROM updated),
               count(*) FILTER (WHERE stored_id IS NOT NULL AND NOT changed)
        FROM staged
    """


def _value(column: str, row: str) -> str:
    """The value a staged row (``row``, an alias) gives a column: what was read, or for a
    value left empty the default of a new asset."""
    if column == "working":
        return f"coalesce({row}.working, true)"
    if column == "kind":
        return f"coalesce({row}.kind, %(camera_kind)s)"
    return f"{row}.{column}"


@contextmanager
def _bulk_indexes(cursor: Any, table: str, *, rebuild: bool, unique_too: bool) -> Iterator[None]:
    """The table's secondary indexes dropped and built again after a large write, and with
    ``unique_too`` (an import that only inserts, so finds no conflicts) its unique
    constraints as well; the primary key stays.

    Other sessions never see the table without them: dropping them locks it until the
    import's transaction ends, so readers wait the second or so it takes, and a failed
    import rolls back to them as they were. A unique constraint made again checks the
    ids once, all together.
    """
    constraints: list[tuple[str, str]] = []
    indexes: list[tuple[str, str]] = []
    if rebuild and unique_too:
        cursor.execute(UNIQUE_CONSTRAINTS_SQL, [table])
        constraints = cursor.fetchall()
    if rebuild:
        cursor.execute(SECONDARY_INDEXES_SQL, [table])
        indexes = cursor.fetchall()
        for name, _ in constraints:
            cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {connection.ops.quote_name(name)}")
        for name, _ in indexes:
            cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
    yield
    if constraints or indexes:
        # CREATE INDEX refuses to run while foreign key checks of the rows just written
        # wait for the commit (Django's are deferred): run them now.
        connection.check_constraints()
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
    for name, definition in constraints:
        cursor.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {connection.ops.quote_name(name)} {definition}"
        )
    for _, definition in indexes:
        cursor.execute(definition)


# ON COMMIT DROP: nothing is left behind if the import fails. _store drops them itself when
# it succeeds, as inside a test's transaction there is no commit.
CREATE_STAGING_SQL = """
    CREATE TEMPORARY TABLE asset_input (
        -- The row's place among those read, and its number in the file (a GDAL layer's
        -- feature ids need not be unique).
        seq integer NOT NULL,
        row bigint NOT NULL,
        external_id varchar(100),
        x float8 NOT NULL,
        y float8 NOT NULL,
        -- An attribute not read: what a new asset gets, where the model has no default
        -- (the write statements give the rest theirs).
        label text NOT NULL DEFAULT '',
        working boolean,
        lamp_type text NOT NULL DEFAULT '',
        wattage integer,
        kind varchar(16),
        range_m integer
    ) ON COMMIT DROP
"""

# ST_Transform, but NULL instead of an error for a point PROJ cannot transform.
SAFE_TRANSFORM_SQL = """
    CREATE OR REPLACE FUNCTION pg_temp.asset_transform(g geometry, srid integer)
    RETURNS geometry LANGUAGE plpgsql IMMUTABLE STRICT AS $$
    BEGIN
        RETURN ST_Transform(g, srid);
    EXCEPTION WHEN OTHERS THEN
        RETURN NULL;
    END $$
"""

# The staged rows' points, for a file in WGS84: as read, checked by _read.
WGS84_POINTS_SQL = """
    (SELECT i.*, ST_SetSRID(ST_MakePoint(i.x, i.y), 4326) AS location FROM asset_input i)
"""

# The owner's assets that the file (every row of it stored) does not list, deleted; the
# interventions at them let go of them, as Django's SET_NULL would (the foreign key is
# checked at commit).
PRUNE_SQL = """
    WITH gone AS (
        DELETE FROM {table} t
        WHERE t.{owned}
          AND NOT EXISTS (SELECT 1 FROM {points} p WHERE p.external_id = t.external_id)
        RETURNING t.id
    ),
    unlinked AS (
        UPDATE {interventions} SET {link} = NULL WHERE {link} IN (SELECT id FROM gone)
    )
    SELECT count(*) FROM gone
"""
PRUNE_REFUSED = (
    "Nothing was pruned: {skipped:,} rows were skipped, and each may be an asset still "
    "standing. Fix them and import again to prune."
)

# For a file in another system, each row's point transformed to WGS84 by PostGIS, like
# every other point stored.
READY_SQL = """
    CREATE TEMPORARY TABLE asset_ready ON COMMIT DROP AS
    SELECT i.*, {transform}(ST_SetSRID(ST_MakePoint(i.x, i.y), %(srid)s), 4326) AS location
    FROM asset_input i
"""

# The rows whose point did not transform to a longitude and latitude, removed and returned.
UNPLACEABLE_SQL = """
    DELETE FROM asset_ready
    WHERE location IS NULL
       OR NOT (ST_X(location) BETWEEN -180 AND 180 AND ST_Y(location) BETWEEN -90 AND 90)
    RETURNING row, x, y
"""

# A row ``r`` whose point ANALYSIS_SRID places (``r.projected``). abs() < 1e12 is false for
# infinities and NaN too.
PLACEABLE_SQL = """
    r.projected IS NOT NULL AND abs(ST_X(r.projected)) < 1e12 AND abs(ST_Y(r.projected)) < 1e12
"""

# The staged rows (of {points}) whose point ANALYSIS_SRID does not place.
UNPLACED_SQL = f"""
    SELECT r.row, r.x, r.y
    FROM (
        SELECT p.row, p.x, p.y, {_SAFE_TRANSFORM}(p.location, %(analysis_srid)s) AS projected
        FROM {{points}} p
        OFFSET 0
    ) r
    WHERE NOT ({PLACEABLE_SQL})
"""

# Ids from the positions of points read in another system, once transformed: as _read
# makes them from WGS84 coordinates, the prefix, the longitude and latitude rounded to
# POSITION_DECIMALS, and #2, #3... for further rows at the same position, in file order.
POSITION_IDS_SQL = f"""
    UPDATE asset_ready a
    SET external_id = p.position || CASE WHEN p.nth > 1 THEN '#' || p.nth ELSE '' END
    FROM (
        SELECT q.seq, q.position,
               row_number() OVER (PARTITION BY q.position ORDER BY q.seq) AS nth
        FROM (
            SELECT seq, %(prefix)s
                   || to_char(ST_X(location), 'FM990.{"0" * POSITION_DECIMALS}') || ','
                   || to_char(ST_Y(location), 'FM990.{"0" * POSITION_DECIMALS}') AS position
            FROM asset_ready
        ) q
    ) p
    WHERE p.seq = a.seq
"""

# The unique constraints on a table, with their definitions.
UNIQUE_CONSTRAINTS_SQL = """
    SELECT conname, pg_get_constraintdef(oid)
    FROM pg_constraint
    WHERE conrelid = %s::regclass AND contype = 'u'
    ORDER BY 1
"""

# The indexes on a table that no constraint owns, with the statements that build them.
SECONDARY_INDEXES_SQL = """
    SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
    FROM pg_index i
    WHERE i.indrelid = %s::regclass
      AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
    ORDER BY 1
"""


def asset_save(*, asset: Asset) -> None:
    """Saves a street light or camera edited by hand, its projected point worked out from
    its location by PostGIS, as an import does, so that coverage measures from where it
    now stands."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_X(p), ST_Y(p) FROM ST_Transform(ST_GeomFromEWKB(%s), %s) AS p",
            [bytes(asset.location.ewkb), settings.ANALYSIS_SRID],
        )
        x, y = cursor.fetchone()
    asset.location_projected = Point(x, y, srid=settings.ANALYSIS_SRID)
    asset.save()
