"""Planner exports: a layer under the layer filters, within the planner's scope, as a file.

The rows come from the planner selectors (``geo.selectors``), so an export holds exactly
what the planner's map shows, and are read through a server-side cursor a chunk at a time:
an export of a million reports never sits in memory. CSV and GeoJSON are written row by
row. A GeoPackage is made by GDAL's ogr2ogr from a CSV written the same way, with the
column types beside it (a ``.csvt`` file): its fields keep their types even when a column
is empty or the export has no rows, which inferring them from GeoJSON would not.

Every export is an ``Export`` row (who asked for which layer, filters and format, when,
and how many rows it held). Small ones are written in the request; larger ones by a Celery
worker, which derives the planner's scope again when it runs: a planner who has moved to
another organisation, or stopped being a planner, exports nothing of the old scope.

Files live in ``settings.EXPORTS_DIR`` under names made here from the export's id; they
are handed out only by the download endpoint, to the export's owner.
"""

import csv
import datetime as dt
import json
import logging
import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.gis.db.models.functions import AsGeoJSON
from django.db import transaction
from django.db.models import F, FloatField, Func, QuerySet, TextField, Value
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from geo.access import PlannerScope, organisation_area_ids_cached, planner_organisation
from geo.filters import (
    HOTSPOT_PARAMS,
    PLACE_PARAMS,
    REPORT_PARAMS,
    LayerFilters,
    default_resolution,
    parse_layer_filters,
)
from geo.hotspots.aggregate import BANDS
from geo.jobs import JobFailed, job_enqueue, job_ready, job_running, job_start
from geo.models import Export
from geo.selectors import planner_hotspot_cells, planner_places, planner_reports
from reports.reasons import REASON_CODES

logger = logging.getLogger(__name__)

# Rows fetched from the server-side cursor at a time.
CHUNK_ROWS = 2000
# Decimal places of coordinates: a centimetre or so, finer than any report's location.
COORDINATE_DECIMALS = 7
# Of a GeoPackage's progress, the share for writing its rows; GDAL's conversion is the rest.
GPKG_ROWS_SHARE = 0.9
# A CSV cell starting with one of these is a formula to a spreadsheet: text from the public
# (a report's approved text, a place's street) is written with a leading apostrophe instead.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

CONTENT_TYPES = {
    Export.Format.CSV: "text/csv; charset=utf-8",
    Export.Format.GEOJSON: "application/geo+json",
    Export.Format.GPKG: "application/geopackage+sqlite3",
}
EXTENSIONS = {
    Export.Format.CSV: "csv",
    Export.Format.GEOJSON: "geojson",
    Export.Format.GPKG: "gpkg",
}

Row = dict[str, Any]


class ExportFailed(JobFailed):
    """An export that cannot be written; its message is shown to the planner."""


# --------------------------------------------------------------------------------------
# The layers: their filters, their rows and their columns
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerSpec:
    """What one layer exports.

    ``fields`` are the attributes in order with the type GDAL gives each in a GeoPackage
    (a ``.csvt`` type: Integer, Real, String, DateTime). The geometry is a point (``lon``
    and ``lat`` columns in a CSV) or a polygon (a ``wkt`` column). ``rows`` reads the rows
    as dicts, with ``geojson`` (GeoJSON text) or ``wkt`` annotated for polygons;
    ``properties`` turns a row into the attributes, lists as lists.
    """

    params: tuple[str, ...]
    geometry: str  # "Point" or "Polygon"
    fields: tuple[tuple[str, str], ...]
    rows: Callable[[LayerFilters, frozenset[int], str], QuerySet[Any, Row]]
    properties: Callable[[Row], Row]

    @property
    def geometry_columns(self) -> tuple[tuple[str, str], ...]:
        if self.geometry == "Point":
            return (("lon", "Real"), ("lat", "Real"))
        return (("wkt", "WKT"),)


def _geometry_text(field: str, kind: str) -> Func:
    """A polygon as GeoJSON or WKT, written by PostGIS."""
    if kind == "geojson":
        return AsGeoJSON(field, precision=COORDINATE_DECIMALS)
    return Func(
        F(field), Value(COORDINATE_DECIMALS), function="ST_AsText", output_field=TextField()
    )


def _x(field: str) -> Func:
    return Func(F(field), function="ST_X", output_field=FloatField())


def _y(field: str) -> Func:
    return Func(F(field), function="ST_Y", output_field=FloatField())


def _finite(value: float | None) -> float | None:
    """None for a missing or non-finite number: JSON, CSV and GDAL all read that as null."""
    return None if value is None or not math.isfinite(value) else value


def _nth(values: list[int] | None, index: int) -> int | None:
    # A cell built before a reason was added to the list has no count for it.
    return values[index] if values is not None and index < len(values) else None


HOTSPOT_FIELDS: tuple[tuple[str, str], ...] = (
    ("resolution", "Integer"),
    ("i", "Integer"),
    ("j", "Integer"),
    ("area", "String"),
    ("unsafe", "Integer"),
    ("safe", "Integer"),
    ("reports", "Integer"),
    *((f"reason_{code}", "Integer") for code in REASON_CODES),
    *((f"band_{band}", "Integer") for band in BANDS),
    ("score", "Real"),
    ("gi_z", "Real"),
    ("gi_p", "Real"),
    ("gi_class", "Integer"),
    ("trend", "String"),
    ("trend_tau", "Real"),
    ("trend_p", "Real"),
)


def _hotspot_rows(
    filters: LayerFilters, area_ids: frozenset[int], geometry: str
) -> QuerySet[Any, Row]:
    return (
        planner_hotspot_cells(filters=filters, area_ids=area_ids)
        .annotate(area_code=F("area__code"), geometry=_geometry_text("hexagon", geometry))
        .values(
            "resolution",
            "i",
            "j",
            "area_code",
            "unsafe",
            "safe",
            "reports",
            "reason_counts",
            "band_counts",
            "score",
            "gi_z",
            "gi_p",
            "gi_class",
            "trend",
            "trend_tau",
            "trend_p",
            "geometry",
        )
    )


def _hotspot_properties(row: Row) -> Row:
    return {
        "resolution": row["resolution"],
        "i": row["i"],
        "j": row["j"],
        "area": row["area_code"],
        "unsafe": row["unsafe"],
        "safe": row["safe"],
        "reports": row["reports"],
        **{
            f"reason_{code}": _nth(row["reason_counts"], index)
            for index, code in enumerate(REASON_CODES)
        },
        **{f"band_{band}": _nth(row["band_counts"], index) for index, band in enumerate(BANDS)},
        "score": _finite(row["score"]),
        "gi_z": _finite(row["gi_z"]),
        "gi_p": _finite(row["gi_p"]),
        "gi_class": row["gi_class"],
        "trend": row["trend"],
        "trend_tau": _finite(row["trend_tau"]),
        "trend_p": _finite(row["trend_p"]),
    }


PLACE_FIELDS: tuple[tuple[str, str], ...] = (
    ("label", "String"),
    ("area", "String"),
    ("report_count", "Integer"),
    ("top_reasons", "String"),
    ("night_share", "Real"),
    ("score", "Real"),
    # The centroid; the geometry is the hull.
    ("lon", "Real"),
    ("lat", "Real"),
)


def _place_rows(
    filters: LayerFilters, area_ids: frozenset[int], geometry: str
) -> QuerySet[Any, Row]:
    return (
        planner_places(filters=filters, area_ids=area_ids)
        .annotate(
            area_code=F("area__code"),
            lon=_x("centroid"),
            lat=_y("centroid"),
            geometry=_geometry_text("hull", geometry),
        )
        .values(
            "label",
            "area_code",
            "report_count",
            "top_reasons",
            "night_share",
            "score",
            "lon",
            "lat",
            "geometry",
        )
    )


def _place_properties(row: Row) -> Row:
    return {
        "label": row["label"],
        "area": row["area_code"],
        "report_count": row["report_count"],
        "top_reasons": list(row["top_reasons"]),
        "night_share": _finite(row["night_share"]),
        "score": _finite(row["score"]),
        "lon": round(row["lon"], COORDINATE_DECIMALS),
        "lat": round(row["lat"], COORDINATE_DECIMALS),
    }


REPORT_FIELDS: tuple[tuple[str, str], ...] = (
    ("received_at", "DateTime"),
    ("feeling", "String"),
    ("severity", "Integer"),
    ("reasons", "String"),
    ("felt_band", "String"),
    ("felt_month", "String"),
    ("area", "String"),
    # The moderated, redacted text; empty unless a moderator approved it.
    ("text", "String"),
)


def _report_rows(
    filters: LayerFilters, area_ids: frozenset[int], geometry: str
) -> QuerySet[Any, Row]:
    # Named columns only: the report's own description and its redacted copy are never
    # read, only ``approved_text``, which is empty unless the text was approved.
    return (
        planner_reports(filters=filters, area_ids=area_ids)
        .annotate(area_code=F("area__code"), lon=_x("location"), lat=_y("location"))
        .values(
            "received_at",
            "feeling",
            "severity",
            "reasons",
            "felt_band",
            "felt_month",
            "area_code",
            "approved_text",
            "lon",
            "lat",
        )
    )


def _report_properties(row: Row) -> Row:
    month = row["felt_month"]
    return {
        "received_at": row["received_at"].astimezone(dt.UTC).isoformat(),
        "feeling": row["feeling"],
        "severity": row["severity"],
        "reasons": list(row["reasons"]),
        "felt_band": BANDS[row["felt_band"]],
        "felt_month": f"{month // 12}-{month % 12 + 1:02d}",
        "area": row["area_code"],
        "text": row["approved_text"],
    }


LAYERS: dict[str, LayerSpec] = {
    Export.Layer.HOTSPOTS: LayerSpec(
        params=HOTSPOT_PARAMS,
        geometry="Polygon",
        fields=HOTSPOT_FIELDS,
        rows=_hotspot_rows,
        properties=_hotspot_properties,
    ),
    Export.Layer.PLACES: LayerSpec(
        params=PLACE_PARAMS,
        geometry="Polygon",
        fields=PLACE_FIELDS,
        rows=_place_rows,
        properties=_place_properties,
    ),
    Export.Layer.REPORTS: LayerSpec(
        params=REPORT_PARAMS,
        geometry="Point",
        fields=REPORT_FIELDS,
        rows=_report_rows,
        properties=_report_properties,
    ),
}


# --------------------------------------------------------------------------------------
# Filters
# --------------------------------------------------------------------------------------


def canonical_filters(filters: LayerFilters, *, layer: str) -> dict[str, str]:
    """The filters as the query parameters that read back as the same filters.

    A hotspot export records the resolution it used, the default one included, so that a
    change of the default between asking and running cannot change what it holds.
    """
    params = LAYERS[layer].params
    found: dict[str, str | None] = {
        "resolution": (
            str(filters.resolution_or(default_resolution())) if "resolution" in params else None
        ),
        "reasons": ",".join(filters.reasons) or None,
        "time_band": filters.time_band,
        "since": None if filters.since is None else filters.since.astimezone(dt.UTC).isoformat(),
        "until": None if filters.until is None else filters.until.astimezone(dt.UTC).isoformat(),
        "area": None if filters.area is None else filters.area.code,
        "in_bbox": None if filters.bbox is None else ",".join(repr(v) for v in filters.bbox),
        "class": ",".join(str(c) for c in filters.classes) or None,
    }
    return {name: value for name in sorted(params) if (value := found[name]) is not None}


def _layer_filters(
    params: Mapping[str, str], *, layer: str, area_ids: frozenset[int]
) -> LayerFilters:
    """The filters of one layer, or a ``ValidationError`` naming each as ``filters.<name>``."""
    allowed = LAYERS[layer].params
    errors: dict[str, Any] = {
        name: [f"The {layer} layer has no filter {name!r}: it takes {', '.join(allowed)}."]
        for name in sorted(params)
        if name not in allowed
    }
    filters = None
    try:
        filters = parse_layer_filters(params, allowed=allowed, area_ids=area_ids)
    except ValidationError as error:
        assert isinstance(error.detail, dict)
        errors.update(error.detail)
    if errors:
        raise ValidationError({"filters": errors})
    assert filters is not None
    return filters


# --------------------------------------------------------------------------------------
# Services
# --------------------------------------------------------------------------------------


def export_create(
    *,
    user: User,
    scope: PlannerScope,
    layer: str,
    format: str,
    params: Mapping[str, str],
) -> Export:
    """Records a planner's export and writes it now if small, else queues it for a worker.

    ``params`` are the layer filters as query parameters (strings). Raises
    ``ValidationError`` naming each faulty filter as ``filters.<name>``. Returns the export:
    ready when written now, queued when sent to a worker, failed when it could be neither.
    """
    if layer not in LAYERS:
        raise ValidationError({"layer": [f"{layer!r} is not a layer."]})
    if format not in EXTENSIONS:
        raise ValidationError({"format": [f"{format!r} is not a format."]})
    filters = _layer_filters(params, layer=layer, area_ids=scope.area_ids)
    export = Export.objects.create(
        user=user,
        organisation=scope.organisation,
        layer=layer,
        format=format,
        filters=canonical_filters(filters, layer=layer),
    )
    logger.info(
        "export %s: %s asked for %s as %s with %s",
        export.pk,
        user.get_username(),
        layer,
        format,
        export.filters,
    )
    rows = LAYERS[layer].rows(filters, scope.area_ids, "wkt").count()
    if rows <= settings.EXPORT_INLINE_ROWS:
        return export_run(export_id=export.pk)
    transaction.on_commit(lambda: _enqueue(export))
    return export


def _enqueue(export: Export) -> None:
    from geo.tasks import export_run_task

    job_enqueue(
        export,
        export_run_task,
        queue=settings.EXPORTS_QUEUE,
        unavailable="The export could not be queued just now: ask for it again shortly.",
    )


def export_run(*, export_id: int) -> Export:
    """Writes a queued export's file; returns the export, ready or failed.

    Safe to run twice: a ready or failed export is returned as it is, and a run that was
    cut short (a worker lost) starts again from the beginning. The scope is the one the
    export's user has now, and must still be that of the organisation it was asked for.
    """
    export = Export.objects.select_related("user").get(pk=export_id)
    if export.status not in (Export.Status.QUEUED, Export.Status.RUNNING):
        return export
    with job_running(
        export, unexpected="The export failed unexpectedly: ask for it again, or tell support."
    ):
        filters, area_ids = _current_scope(export)
        spec = LAYERS[export.layer]
        rows = spec.rows(filters, area_ids, "geojson" if export.format == "geojson" else "wkt")
        total = rows.count()
        export.row_count = 0
        job_start(export, "row_count")
        _write(export, spec, rows, total=total)
    return export


def exports_purge_expired(*, now: dt.datetime | None = None) -> int:
    """Deletes the files of exports finished over ``EXPORT_RETENTION_DAYS`` ago.

    Their records stay, marked expired. Also removes what runs cut short (a worker lost)
    left in their working directories a day or more ago. Returns how many exports expired.
    """
    now = now or timezone.now()
    directory = Path(settings.EXPORTS_DIR)
    cutoff = now - dt.timedelta(days=settings.EXPORT_RETENTION_DAYS)
    expired = 0
    for export in Export.objects.filter(status=Export.Status.READY, finished_at__lt=cutoff).only(
        "pk", "file"
    ):
        # Expired first: from then on a download says so rather than finding no file.
        if Export.objects.filter(pk=export.pk, status=Export.Status.READY).update(
            status=Export.Status.EXPIRED
        ):
            (directory / export.file).unlink(missing_ok=True)
            expired += 1
    if directory.is_dir():
        stale = (now - dt.timedelta(days=1)).timestamp()
        for work in directory.glob(".export-*"):
            if work.is_dir() and work.stat().st_mtime < stale:
                shutil.rmtree(work, ignore_errors=True)
    if expired:
        logger.info("%s exports expired: their files are deleted", expired)
    return expired


def _current_scope(export: Export) -> tuple[LayerFilters, frozenset[int]]:
    organisation = planner_organisation(export.user)
    if organisation is None:
        raise ExportFailed("Whoever asked for this export is no longer a planner.")
    if organisation.pk != export.organisation_id:
        raise ExportFailed(
            "You now work for another organisation than when you asked for this export: "
            "ask for it again."
        )
    area_ids = organisation_area_ids_cached(organisation=organisation)
    try:
        filters = _layer_filters(export.filters, layer=export.layer, area_ids=area_ids)
    except ValidationError as error:
        raise ExportFailed(
            "The filters no longer fit what your organisation covers: ask for it again."
        ) from error
    return filters, area_ids


def export_path(export: Export) -> Path:
    """Where a ready export's file is."""
    return Path(settings.EXPORTS_DIR) / export.file


def export_filename(export: Export) -> str:
    """The name the planner's browser saves the file under."""
    day = export.created_at.astimezone(dt.UTC).strftime("%Y%m%d")
    return f"streetsafe-{export.layer}-{day}-{export.pk}.{EXTENSIONS[export.format]}"  # type: ignore[index]


def _write(export: Export, spec: LayerSpec, rows: QuerySet[Any, Row], *, total: int) -> None:
    """Writes the file beside its final place, then moves it there in one step."""
    directory = Path(settings.EXPORTS_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{export.pk}-{export.layer}.{EXTENSIONS[export.format]}"  # type: ignore[index]
    # A directory of this run's own: two runs of one export never write the same file.
    work = Path(tempfile.mkdtemp(prefix=f".export-{export.pk}-", dir=directory))
    try:
        share = GPKG_ROWS_SHARE if export.format == Export.Format.GPKG else 1.0
        counted = _counting(export, rows.iterator(chunk_size=CHUNK_ROWS), total, share)
        if export.format == Export.Format.GEOJSON:
            written = work / name
            with written.open("w", encoding="utf-8") as out:
                _write_geojson(out, spec, counted, name=export.layer)
        elif export.format == Export.Format.CSV:
            written = work / name
            with written.open("w", encoding="utf-8", newline="") as out:
                _write_csv(out, spec, counted, for_spreadsheets=True)
        else:
            source = work / f"{export.layer}.csv"
            with source.open("w", encoding="utf-8", newline="") as out:
                _write_csv(out, spec, counted, for_spreadsheets=False)
            (work / f"{export.layer}.csvt").write_text(
                ",".join(f'"{kind}"' for _, kind in (*spec.fields, *spec.geometry_columns)) + "\n",
                encoding="utf-8",
            )
            written = work / name
            _ogr2ogr(source, written, spec, layer=export.layer)
        size = written.stat().st_size
        os.replace(written, directory / name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    export.file = name
    export.file_size = size
    job_ready(export, "row_count", "file", "file_size")
    logger.info("export %s ready: %s rows, %s bytes", export.pk, export.row_count, size)


def _counting(export: Export, rows: Iterator[Row], total: int, share: float) -> Iterator[Row]:
    """The rows, recording the count and progress every ``EXPORT_PROGRESS_ROWS``."""
    every = settings.EXPORT_PROGRESS_ROWS
    count = 0
    for row in rows:
        yield row
        count += 1
        if count % every == 0:
            export.row_count = count
            # Rows may have been added since they were counted: never past the share.
            export.progress = min(share, share * count / total) if total else 0.0
            export.save(update_fields=["row_count", "progress"])
    export.row_count = count


def _write_geojson(out: IO[str], spec: LayerSpec, rows: Iterable[Row], *, name: str) -> None:
    """A FeatureCollection in WGS84 (RFC 7946), one feature a line."""
    out.write('{"type": "FeatureCollection", "name": ' + json.dumps(name) + ', "features": [\n')
    first = True
    for row in rows:
        if spec.geometry == "Point":
            geometry = json.dumps(
                {
                    "type": "Point",
                    "coordinates": [
                        round(row["lon"], COORDINATE_DECIMALS),
                        round(row["lat"], COORDINATE_DECIMALS),
                    ],
                }
            )
        else:
            geometry = row["geometry"]
        properties = json.dumps(spec.properties(row), ensure_ascii=False, allow_nan=False)
        out.write(
            ("" if first else ",\n")
            + '{"type": "Feature", "geometry": '
            + geometry
            + ', "properties": '
            + properties
            + "}"
        )
        first = False
    out.write("\n]}\n")


def _write_csv(
    out: IO[str], spec: LayerSpec, rows: Iterable[Row], *, for_spreadsheets: bool
) -> None:
    """One row a line with a header; lists as comma-separated text, null as empty."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([name for name, _ in (*spec.fields, *spec.geometry_columns)])
    for row in rows:
        properties = spec.properties(row)
        cells = [_csv_cell(properties[name], for_spreadsheets) for name, _ in spec.fields]
        if spec.geometry == "Point":
            cells += [
                repr(round(row["lon"], COORDINATE_DECIMALS)),
                repr(round(row["lat"], COORDINATE_DECIMALS)),
            ]
        else:
            cells.append(row["geometry"])
        writer.writerow(cells)


def _csv_cell(value: Any, for_spreadsheets: bool) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        value = ",".join(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        if for_spreadsheets and value.startswith(FORMULA_STARTS):
            return "'" + value
        return value
    return str(value)


def _ogr2ogr(source: Path, target: Path, spec: LayerSpec, *, layer: str) -> None:
    """Converts the CSV (and its .csvt types) to a GeoPackage layer in EPSG:4326."""
    if spec.geometry == "Point":
        geometry = ["-oo", "X_POSSIBLE_NAMES=lon", "-oo", "Y_POSSIBLE_NAMES=lat"]
    else:
        geometry = ["-oo", "GEOM_POSSIBLE_NAMES=wkt"]
    command = [
        settings.OGR2OGR,
        "-f",
        "GPKG",
        str(target),
        str(source),
        *geometry,
        "-oo",
        "KEEP_GEOM_COLUMNS=NO",
        "-nln",
        layer,
        "-nlt",
        spec.geometry.upper(),
        "-a_srs",
        "EPSG:4326",
        "-lco",
        "GEOMETRY_NAME=geom",
        "-lco",
        "FID=fid",
        # Rows per transaction: fewer, larger commits write a large file much faster.
        "-gt",
        "65536",
    ]
    try:
        # A fixed program and arguments, no shell; the paths are made here.
        done = subprocess.run(  # noqa: S603
            command,
            capture_output=True,
            text=True,
            timeout=settings.EXPORT_GDAL_TIMEOUT_SECONDS,
            check=False,
        )
    except FileNotFoundError as error:
        raise ExportFailed(
            "GeoPackages cannot be made here: GDAL's ogr2ogr is not installed."
        ) from error
    except subprocess.TimeoutExpired as error:
        raise ExportFailed("GDAL took too long to write the GeoPackage.") from error
    if done.returncode != 0 or not target.exists():
        logger.error("ogr2ogr failed (%s): %s", done.returncode, done.stderr.strip())
        raise ExportFailed("GDAL could not write the GeoPackage.")
