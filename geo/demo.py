"""Demo and benchmark reports, made around real police.uk street-level crime.

No public data set of "I feel unsafe here" pins exists. Recorded crime of the kinds that
drive fear in public space clusters on the same streets, so each demo report stands on one
row of the police.uk CSVs: within ``JITTER_METRES`` of the row's map point, with reasons
that fit its crime type, felt mostly in the evening and at night within the row's month.

The random draws are numpy arrays, a chunk at a time; a chunk goes to the database in one
binary COPY, and one INSERT ... SELECT (INSERT_SQL) moves, locates and stores it.

Two regions: West Mercia (police.uk's street CSVs, five months) and Sheffield (one month of
street crime from the police.uk API as GeoJSON, with the city's CCTV cameras, its own force
area and policing area, and a council with a planner: ``sheffield_load``). Each region's
reports carry their own source, so each is replaced or kept on its own.
"""

import csv
import io
import json
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.gis.geos import MultiPolygon
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from geo.access import organisation_upsert, planner_upsert
from geo.areas import area_upsert, as_multipolygon
from geo.assets import CAMERA, AssetFields, AssetImportError, assets_import
from geo.importers import LayerReader, SourceError, layer_names
from geo.models import Area, AreaPart, Organisation
from reports.models import LOCAL_TIME_ZONE
from reports.reasons import REASON_CODES

SOURCE = "demo"
DEFAULT_SEED = 1
# Reports drawn, copied and inserted at a time: large enough that the per-statement cost
# disappears, small enough that a chunk's arrays stay a few tens of megabytes.
CHUNK_SIZE = 250_000
# Adding or deleting at least this many reports at once is done in bulk: see _bulk_writes.
BULK_MIN_REPORTS = 100_000
# Every report lies within this distance of its row's map point, in ANALYSIS_SRID metres.
JITTER_METRES = 30.0
# A map point farther than this from every force and local policing area boundary keeps
# its areas whatever the jitter; only reports near a boundary are located one by one. The
# extra 5 m covers the curvature of a boundary edge drawn straight in WGS84.
EDGE_METRES = JITTER_METRES + 5.0
SAFE_SHARE = 0.03
UNKNOWN_TIME_SHARE = 0.10
MAX_DELAY_SECONDS = 2 * 24 * 3600
STREET_MAX_LENGTH = 120
CSV_PATTERN = "*-street.csv"
CSV_COLUMNS = ("Month", "Longitude", "Latitude", "Location", "Crime type")
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
# psycopg2.errorcodes.UNIQUE_VIOLATION
_UNIQUE_VIOLATION = "23505"

# How likely a report is felt in each local hour, 00 to 23: evenings and nights far more
# than mornings (day 07-19 about 29%, evening 19-23 about 33%, night 23-07 about 38%).
HOUR_WEIGHTS = (
    8, 7, 6, 5, 3, 2, 1.5,  # 00-06
    1, 1, 1, 1.2, 1.5, 2, 2, 2, 2.5, 3, 3.5, 4.5,  # 07-18
    6, 7, 8, 8.5,  # 19-22
    8,  # 23
)  # fmt: skip
# How many reasons an unsafe report gives (1, 2 or 3), at most as many as its profile has.
REASON_COUNT_SHARES = (0.5, 0.35, 0.15)
# Shares of severity not given (NULL), 1, 2 and 3.
SEVERITY_SHARES = {
    "heavy": (0.10, 0.15, 0.35, 0.40),
    "light": (0.15, 0.40, 0.30, 0.15),
}


@dataclass(frozen=True)
class CrimeProfile:
    """What a report standing on these crime types says: reasons with their weights (the
    first the most likely) and how severe it felt."""

    crime_types: tuple[str, ...]
    reasons: tuple[tuple[str, float], ...]
    severity: str = "light"


PROFILES: tuple[CrimeProfile, ...] = (
    CrimeProfile(
        ("Violence and sexual offences",),
        (("followed", 5), ("harassment_individual", 4), ("isolated", 1.5), ("poor_lighting", 1.5)),
        "heavy",
    ),
    CrimeProfile(
        ("Robbery",),
        (("isolated", 5), ("poor_lighting", 4), ("followed", 1.5), ("no_cctv", 1.5)),
        "heavy",
    ),
    CrimeProfile(("Possession of weapons",), (("harassment_group", 5), ("followed", 4)), "heavy"),
    CrimeProfile(("Public order",), (("harassment_group", 5), ("drugs_alcohol", 4))),
    CrimeProfile(
        ("Anti-social behaviour",),
        (("harassment_group", 5), ("drugs_alcohol", 4), ("run_down", 1.5)),
    ),
    CrimeProfile(
        ("Burglary", "Vehicle crime", "Bicycle theft", "Theft from the person"),
        (("poor_lighting", 5), ("no_cctv", 4), ("isolated", 1.5)),
    ),
    CrimeProfile(("Criminal damage and arson",), (("run_down", 5), ("no_cctv", 4))),
    CrimeProfile(("Drugs",), (("drugs_alcohol", 1),)),
    CrimeProfile(("Shoplifting",), (("no_cctv", 5), ("other", 2))),
    CrimeProfile(("Other theft",), (("no_cctv", 5), ("poor_lighting", 2), ("other", 2))),
    # Last: also any crime type police.uk adds later.
    CrimeProfile(("Other crime",), (("other", 5), ("run_down", 2), ("no_cctv", 2))),
)


# The police.uk API's crime categories (as slugs, with - or spaces) and the crime types of
# the street CSVs they are, for PROFILES. Any other category is "Other crime".
CATEGORY_CRIME_TYPES = {
    "violent crime": "Violence and sexual offences",
    "anti social behaviour": "Anti-social behaviour",
    "criminal damage arson": "Criminal damage and arson",
    "possession of weapons": "Possession of weapons",
    "theft from the person": "Theft from the person",
    "bicycle theft": "Bicycle theft",
    "other theft": "Other theft",
    "vehicle crime": "Vehicle crime",
    "public order": "Public order",
    "shoplifting": "Shoplifting",
    "burglary": "Burglary",
    "robbery": "Robbery",
    "drugs": "Drugs",
    "other crime": "Other crime",
}


class DemoError(Exception):
    """The data cannot be read, or the database is not ready for it."""


@dataclass(frozen=True)
class DemoResult:
    made: int
    # Points drawn outside the force area (or for Sheffield its policing area), not stored.
    dropped: int
    # Where the dropped points fell outside of, in words.
    outside: str
    # Rows read with coordinates, and without (skipped).
    rows: int
    rows_without_coordinates: int
    seconds: float


# Called after each chunk with the reports made so far and the number wanted (with no
# scale: the rows with coordinates less those dropped so far).
Progress = Callable[[int, int], None]


def demo_load(
    *,
    data_dir: Path,
    region: str = "west-mercia",
    scale: int | None = None,
    seed: int = DEFAULT_SEED,
    replace: bool = True,
    progress: Progress | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> DemoResult:
    """Makes a region's demo reports (its source) from the police.uk files in data_dir.

    With no scale, one report per row with coordinates; with a scale, exactly that many,
    from rows drawn with replacement until that many fall inside a force area. The same
    files, seed and chunk size make the same reports, ids included. With ``replace`` the
    region's demo reports already stored are deleted first; other regions' and reports
    from the app never are. All in one transaction.
    """
    started = time.monotonic()
    if region not in REGIONS:
        raise DemoError(f"No demo region {region!r}; the regions are: {', '.join(REGIONS)}.")
    crimes = REGIONS[region]
    if scale is not None and scale < 1:
        raise DemoError(f"The scale must be at least 1, not {scale}.")
    rows = crimes.read(_source_paths(data_dir, crimes))
    total = len(rows.place)
    if not total:
        raise DemoError(f"No row with coordinates in the police.uk {crimes.files} in {data_dir}")
    if not AreaPart.objects.filter(kind=Area.Kind.FORCE).exists():
        raise DemoError("No police force area is loaded: run manage.py load_west_mercia first.")

    # Each region draws from its own stream: the same seed in two regions must not make
    # the same report ids.
    rng = np.random.default_rng([seed, *crimes.stream] if crimes.stream else seed)
    source = crimes.source
    params: dict[str, Any] = {
        "codes": list(REASON_CODES),
        "source": source,
        "lpa_only": crimes.lpa_only,
        "time_zone": LOCAL_TIME_ZONE,
        "now": timezone.now(),
    }
    wanted = scale if scale is not None else total
    made = dropped = start = 0
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            # Compiling these statements takes longer than running them uncompiled.
            cursor.execute("SET LOCAL jit = off")
            _stage_places(cursor, rows)
            cursor.execute(COUNT_SQL, [source, source])
            (ours, others) = cursor.fetchone()
            with _bulk_writes(
                cursor,
                adding=wanted,
                deleting=ours if replace else 0,
                keeping=others if replace else others + ours,
            ):
                if replace:
                    cursor.execute(DELETE_DECISIONS_SQL, [source])
                    cursor.execute(DELETE_SQL, [source])
                while made < wanted:
                    if scale is None:
                        picks = np.arange(start, min(start + chunk_size, total))
                        start += len(picks)
                    else:
                        picks = rng.integers(0, total, min(chunk_size, scale - made))
                    cursor.execute("TRUNCATE demo_staging")
                    _copy_binary(cursor, "demo_staging", _draw(rng, rows, picks))
                    cursor.execute(INSERT_SQL, params)
                    made += cursor.rowcount
                    dropped += len(picks) - cursor.rowcount
                    if scale is None:
                        wanted = total - dropped
                    elif made == 0:
                        raise DemoError(
                            f"None of {len(picks):,} points drawn fell inside {crimes.outside}."
                        )
                    if progress is not None:
                        progress(made, wanted)
            cursor.execute(DROP_SQL)
    except IntegrityError as error:
        if getattr(error.__cause__, "pgcode", None) != _UNIQUE_VIOLATION:
            raise
        raise DemoError(
            f"Demo reports with these ids are already stored: seed {seed} was loaded before "
            "and kept. Use another seed, or replace them."
        ) from error
    if made + dropped >= BULK_MIN_REPORTS:
        _settle()
    return DemoResult(
        made=made,
        dropped=dropped,
        outside=crimes.outside,
        rows=total,
        rows_without_coordinates=rows.without_coordinates,
        seconds=time.monotonic() - started,
    )


# The Sheffield demo: South Yorkshire's force area, Sheffield as a local policing area in
# it, and Sheffield City Council covering it, with a planner and its CCTV cameras.
SOUTH_YORKSHIRE_CODE = "E23000011"
SOUTH_YORKSHIRE_NAME = "South Yorkshire"
SHEFFIELD_CODE = "sy-sheffield"
SHEFFIELD_NAME = "Sheffield"
# The district it is made of, by its whole LAD13NM.
SHEFFIELD_DISTRICT = "Sheffield"
SHEFFIELD_COUNCIL = "Sheffield City Council"
SHEFFIELD_PLANNER = "sheffield-planner"
FORCES_FILE = "police_force_areas_2020.geojson"
DISTRICTS_STEM = "local_authority_districts_gb_2013"
DISTRICTS_LAYER = "lad"
SHEFFIELD_CAMERAS_FILE = "sheffield_cctv.geojson"
# Sheffield's cameras: "location" names the junction or site, and "notes" says "ITS
# Traffic Camera" for the traffic ones. Their cam_number is not unique (the traffic and
# public-space cameras are numbered apart, and a few numbers repeat), so they are matched
# by position.
SHEFFIELD_CAMERA_FIELDS = AssetFields(label="location", kind="notes")


@dataclass(frozen=True)
class SheffieldResult:
    areas: list[tuple[Area, bool]]
    organisation: Organisation
    organisation_created: bool
    planner: str
    planner_created: bool
    planner_can_sign_in: bool
    cameras_created: int
    cameras_updated: int
    cameras_unchanged: int
    cameras_skipped: int
    reports: DemoResult


def sheffield_load(
    *,
    data_dir: Path,
    scale: int | None = None,
    seed: int = DEFAULT_SEED,
    replace: bool = True,
    progress: Progress | None = None,
) -> SheffieldResult:
    """The Sheffield demo region, all in one transaction: South Yorkshire's force area and
    Sheffield's local policing area (each created or updated by its code), Sheffield City
    Council covering it with a planner (who keeps their password if they have one), the
    city's cameras (upserted, owned by the council) and demo reports around one month of
    Sheffield street crime (``demo_load``).

    data_dir is laid out like the shared data: boundaries/, police-uk/sheffield/ and
    assets/ (or the files directly in it).
    """
    try:
        forces = _find(data_dir, ["boundaries", "."], [FORCES_FILE])
        districts = _find(
            data_dir,
            ["boundaries", "."],
            [f"{DISTRICTS_STEM}.topojson", f"{DISTRICTS_STEM}.geojson"],
        )
        cameras = _find(data_dir, ["assets", "."], [SHEFFIELD_CAMERAS_FILE])
        force_geom = _one_area(forces, "PFA20CD", "PFA20NM", f"PFA20CD = '{SOUTH_YORKSHIRE_CODE}'")
        district_geom = _one_area(
            districts, "LAD13CD", "LAD13NM", f"LAD13NM = '{SHEFFIELD_DISTRICT}'", DISTRICTS_LAYER
        )
    except SourceError as error:
        raise DemoError(str(error)) from error

    with transaction.atomic():
        force = area_upsert(
            code=SOUTH_YORKSHIRE_CODE,
            name=SOUTH_YORKSHIRE_NAME,
            kind=Area.Kind.FORCE,
            geom=force_geom,
        )
        lpa = area_upsert(
            code=SHEFFIELD_CODE,
            name=SHEFFIELD_NAME,
            kind=Area.Kind.LOCAL_POLICING_AREA,
            geom=district_geom,
            parent=force[0],
        )
        organisation, organisation_created = organisation_upsert(
            name=SHEFFIELD_COUNCIL, areas=[lpa[0]]
        )
        planner, planner_created = planner_upsert(
            username=SHEFFIELD_PLANNER, organisation=organisation
        )
        try:
            imported = assets_import(
                kind=CAMERA,
                path=cameras,
                organisation=organisation,
                fields=SHEFFIELD_CAMERA_FIELDS,
            )
        except AssetImportError as error:
            raise DemoError(f"The cameras in {cameras} cannot be imported: {error}") from error
        reports = demo_load(
            data_dir=data_dir,
            region="sheffield",
            scale=scale,
            seed=seed,
            replace=replace,
            progress=progress,
        )
    return SheffieldResult(
        areas=[force, lpa],
        organisation=organisation,
        organisation_created=organisation_created,
        planner=planner.username,
        planner_created=planner_created,
        planner_can_sign_in=planner.has_usable_password(),
        cameras_created=imported.created,
        cameras_updated=imported.updated,
        cameras_unchanged=imported.unchanged,
        cameras_skipped=len(imported.skipped),
        reports=reports,
    )


def _find(data_dir: Path, folders: list[str], names: list[str]) -> Path:
    candidates = [data_dir / folder / name for name in names for folder in folders]
    for path in candidates:
        if path.is_file():
            return path
    raise SourceError(f"None of these files exists: {', '.join(map(str, candidates))}")


def _one_area(
    path: Path, code_field: str, name_field: str, where: str, layer: str | None = None
) -> MultiPolygon:
    """The one area of a boundary file that matches where, as a valid multipolygon."""
    reader = LayerReader(
        path,
        layer=layer if layer in layer_names(path) else None,
        code_field=code_field,
        name_field=name_field,
        where=where,
    )
    geoms = [f.geom for f in reader if f.geom is not None]
    if len(geoms) != 1:
        raise SourceError(f"{path} has {len(geoms)} areas where {where}")
    # make_valid() first: asking an invalid geometry whether it is valid logs each fault.
    return as_multipolygon(geoms[0].make_valid())  # type: ignore[attr-defined]


def _settle() -> None:
    """Leaves the table as everyday use would: planner statistics and visibility up to date.

    Right after a bulk load the planner guesses at the new rows, and the first readers of
    each page (a hotspot rebuild, say) pay for marking it visible; autovacuum gets to it a
    minute or so later, in the middle of whatever runs then. VACUUM cannot run inside a
    transaction (a test's, say): there it is ANALYZE only.
    """
    with connection.cursor() as cursor:
        if connection.in_atomic_block:
            cursor.execute("ANALYZE reports_report")
        else:
            cursor.execute("VACUUM (ANALYZE) reports_report")


def _source_paths(data_dir: Path, crimes: "_Crimes") -> list[Path]:
    """The region's police.uk files in data_dir, or in its police-uk/<region> folder."""
    folders = (data_dir, data_dir / "police-uk" / crimes.folder)
    for folder in folders:
        files = sorted(folder.glob(crimes.pattern))
        if files:
            return files
    raise DemoError(
        f"No police.uk street {crimes.file} ({crimes.pattern}) in {' or '.join(map(str, folders))}"
    )


@dataclass(frozen=True)
class _Rows:
    """The CSV rows with coordinates, as parallel arrays, and their distinct places."""

    # Index into the places, which are police.uk map points with their street text.
    place: np.ndarray
    # Index into PROFILES.
    profile: np.ndarray
    # The row's month: its first day (days since 2000-01-01) and its length in days.
    month_start: np.ndarray
    month_days: np.ndarray
    places: list[tuple[float, float, str]]
    without_coordinates: int


def _read_rows(paths: list[Path]) -> _Rows:
    profile_of = {t: i for i, p in enumerate(PROFILES) for t in p.crime_types}
    place_of: dict[tuple[float, float, str], int] = {}
    places: list[int] = []
    profiles: list[int] = []
    months: list[str] = []
    without = 0
    for path in paths:
        try:
            with path.open(newline="", encoding="utf-8-sig") as f:
                reader = csv.DictReader(f)
                missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or ())]
                if missing:
                    raise DemoError(f"{path} has no column {', '.join(map(repr, missing))}")
                for row in reader:
                    if not row["Longitude"] or not row["Latitude"]:
                        without += 1
                        continue
                    where = f"{path}, line {reader.line_num}"
                    try:
                        longitude, latitude = float(row["Longitude"]), float(row["Latitude"])
                    except ValueError:
                        raise DemoError(f"{where}: the coordinates are not numbers") from None
                    if not (-180 <= longitude <= 180 and -90 <= latitude <= 90):
                        raise DemoError(f"{where}: the coordinates are out of range")
                    if not _MONTH.fullmatch(row["Month"] or ""):
                        raise DemoError(f"{where}: the Month {row['Month']!r} is not YYYY-MM")
                    key = (longitude, latitude, (row["Location"] or "")[:STREET_MAX_LENGTH])
                    places.append(place_of.setdefault(key, len(place_of)))
                    profiles.append(profile_of.get(row["Crime type"], len(PROFILES) - 1))
                    months.append(row["Month"])
        except (OSError, UnicodeDecodeError, csv.Error) as error:
            raise DemoError(f"{path} cannot be read as a police.uk CSV: {error}") from error
    return _rows(places, profiles, months, list(place_of), without)


def _rows(
    places: list[int],
    profiles: list[int],
    months: list[str],
    distinct: list[tuple[float, float, str]],
    without: int,
) -> _Rows:
    month = np.array(months, dtype="datetime64[M]")
    first_day = month.astype("datetime64[D]")
    return _Rows(
        place=np.array(places, dtype=np.int32),
        profile=np.array(profiles, dtype=np.intp),
        month_start=(first_day - np.datetime64("2000-01-01", "D")).astype(np.int64),
        month_days=((month + 1).astype("datetime64[D]") - first_day).astype(np.int64),
        places=distinct,
        without_coordinates=without,
    )


def _read_geojson_rows(paths: list[Path]) -> _Rows:
    """Street crime from the police.uk API as GeoJSON points with the properties category
    (a slug such as "violent crime"), street and month."""
    profile_of = {t: i for i, p in enumerate(PROFILES) for t in p.crime_types}
    other = len(PROFILES) - 1
    place_of: dict[tuple[float, float, str], int] = {}
    places: list[int] = []
    profiles: list[int] = []
    months: list[str] = []
    without = 0
    for path in paths:
        try:
            with path.open(encoding="utf-8-sig") as f:
                features = json.load(f)["features"]
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
            raise DemoError(f"{path} cannot be read as GeoJSON features: {error}") from error
        for number, feature in enumerate(features, start=1):
            where = f"{path}, feature {number}"
            if not isinstance(feature, dict):
                raise DemoError(f"{where}: not a GeoJSON feature")
            geometry = feature.get("geometry") or {}
            properties = feature.get("properties") or {}
            if geometry.get("type") != "Point" or not geometry.get("coordinates"):
                without += 1
                continue
            try:
                longitude, latitude = (float(c) for c in geometry["coordinates"][:2])
            except (TypeError, ValueError):
                raise DemoError(f"{where}: the coordinates are not numbers") from None
            if not (-180 <= longitude <= 180 and -90 <= latitude <= 90):
                raise DemoError(f"{where}: the coordinates are out of range")
            month = properties.get("month")
            if not isinstance(month, str) or not _MONTH.fullmatch(month):
                raise DemoError(f"{where}: the month {month!r} is not YYYY-MM")
            category = str(properties.get("category") or "").replace("-", " ").strip().lower()
            crime_type = CATEGORY_CRIME_TYPES.get(category, "")
            key = (longitude, latitude, str(properties.get("street") or "")[:STREET_MAX_LENGTH])
            places.append(place_of.setdefault(key, len(place_of)))
            profiles.append(profile_of.get(crime_type, other))
            months.append(month)
    return _rows(places, profiles, months, list(place_of), without)


@dataclass(frozen=True)
class _Crimes:
    """Where a region's police.uk files are and how they are read."""

    # The folder under police-uk/ in the shared data, and the files' names.
    folder: str
    pattern: str
    file: str
    files: str
    read: Callable[[list[Path]], _Rows]
    # The reports' source, so that each region is replaced on its own.
    source: str
    # Mixed into the seed: another random stream from West Mercia's (which has none).
    stream: tuple[int, ...] = ()
    # Keep only reports inside a local policing area, not all those inside the force area:
    # the Sheffield crime reaches into Rotherham, which no area of the demo covers.
    lpa_only: bool = False
    outside: str = "the force area"


REGIONS: dict[str, _Crimes] = {
    "west-mercia": _Crimes("west-mercia", CSV_PATTERN, "CSV", "CSVs", _read_rows, SOURCE),
    "sheffield": _Crimes(
        "sheffield",
        "*-street.geojson",
        "GeoJSON",
        "GeoJSON files",
        _read_geojson_rows,
        "demo-sheffield",
        stream=(1,),
        lpa_only=True,
        outside="Sheffield's local policing area",
    ),
}


def _stage_places(cursor: Any, rows: _Rows) -> None:
    """The temporary tables, with each distinct map point projected and located once."""
    srid = settings.ANALYSIS_SRID
    cursor.execute(CREATE_SQL)
    cursor.execute(EDGE_SQL, {"srid": srid})
    text = io.StringIO()
    csv.writer(text).writerows((i, *place) for i, place in enumerate(rows.places))
    text.seek(0)
    cursor.copy_expert(
        "COPY demo_place_input (i, longitude, latitude, street) "
        "FROM STDIN (FORMAT csv, FORCE_NOT_NULL (street))",  # an empty street is ''
        text,
    )
    cursor.execute(PLACE_SQL, {"srid": srid, "edge_metres": EDGE_METRES})
    cursor.execute("ANALYZE demo_place")


@contextmanager
def _bulk_writes(cursor: Any, *, adding: int, deleting: int, keeping: int) -> Iterator[None]:
    """Large writes to the reports table done in bulk, all in the load's transaction.

    Adding at least BULK_MIN_REPORTS reports, and at least as many as the table keeps, its
    secondary indexes are dropped and built again at the end: building an index once costs
    a fraction of updating it a million times. Deleting at least BULK_MIN_REPORTS, the
    foreign keys that point at it (from moderation decisions) are dropped and made again at
    the end, checked once in bulk instead of once for each report deleted.

    Other sessions never see the tables without them: dropping them locks the tables until
    the transaction ends, so intake and moderation wait for the load instead, and a failed
    load rolls back to them as they were. The primary key stays, and so does the foreign
    key to the areas: dropping it would lock the boundaries as well.
    """
    indexes: list[tuple[str, str]] = []
    foreign_keys: list[tuple[str, str, str]] = []
    if adding >= max(BULK_MIN_REPORTS, keeping):
        cursor.execute(SECONDARY_INDEXES_SQL)
        indexes = cursor.fetchall()
    if deleting >= BULK_MIN_REPORTS:
        cursor.execute(REFERENCING_FOREIGN_KEYS_SQL)
        foreign_keys = cursor.fetchall()
    if indexes or foreign_keys:
        # ALTER TABLE and CREATE INDEX refuse to run while foreign key checks of rows
        # written earlier in the transaction wait for its commit (Django's are deferred):
        # run them now.
        connection.check_constraints()
    for table, name, _ in foreign_keys:
        cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {connection.ops.quote_name(name)}")
    for name, _ in indexes:
        cursor.execute(f"DROP INDEX {name}")
    yield
    if indexes:
        connection.check_constraints()
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
    for _, definition in indexes:
        cursor.execute(definition)
    for table, name, definition in foreign_keys:
        cursor.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {connection.ops.quote_name(name)} {definition}"
        )


def _profile_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per profile: its reasons (1-based positions in REASON_CODES, 0 for none), their
    weights, and the cumulative severity shares."""
    width = max(len(p.reasons) for p in PROFILES)
    numbers = np.zeros((len(PROFILES), width), dtype=np.int16)
    weights = np.zeros((len(PROFILES), width))
    for i, profile in enumerate(PROFILES):
        for j, (code, weight) in enumerate(profile.reasons):
            numbers[i, j] = REASON_CODES.index(code) + 1
            weights[i, j] = weight
    severity = np.cumsum([SEVERITY_SHARES[p.severity] for p in PROFILES], axis=1)
    return numbers, weights, severity


def _draw(rng: np.random.Generator, rows: _Rows, picks: np.ndarray) -> list[tuple[str, Any]]:
    """One demo report for each picked row, as demo_staging's columns."""
    n = len(picks)
    numbers, weights, severity_shares = _profile_tables()

    octets = np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    octets[:, 6] = (octets[:, 6] & 0x0F) | 0x40  # version 4
    octets[:, 8] = (octets[:, 8] & 0x3F) | 0x80  # the RFC 4122 variant
    ids = octets.view("V16").ravel()
    # In id order, so that the primary key's index is written page after page, not at
    # random; the draws below are the same for every position.
    order = np.argsort(ids)
    ids, picks = ids[order], picks[order]

    profile = rows.profile[picks]
    # Uniform in a disc: the radius goes with the square root.
    radius = JITTER_METRES * np.sqrt(rng.random(n))
    angle = 2 * np.pi * rng.random(n)

    # Weighted sampling without replacement (the Gumbel top-k trick): order each row's
    # log-weights plus Gumbel noise, keep the first k. A missing reason weighs 0 (-inf).
    with np.errstate(divide="ignore"):
        keys = np.log(weights[profile]) + rng.gumbel(size=(n, weights.shape[1]))
    ranked = np.argsort(-keys, axis=1)[:, :3]
    reasons = np.take_along_axis(numbers[profile], ranked, axis=1)
    count = rng.choice(len(REASON_COUNT_SHARES), n, p=REASON_COUNT_SHARES) + 1
    safe = rng.random(n) < SAFE_SHARE
    reasons[(np.arange(3) >= count[:, None]) | safe[:, None]] = 0

    severity = (rng.random(n)[:, None] >= severity_shares[profile]).sum(axis=1)
    severity = np.where(safe, 0, np.minimum(severity, 3)).astype(np.int16)

    hour_shares = np.array(HOUR_WEIGHTS) / sum(HOUR_WEIGHTS)
    seconds = rng.choice(24, n, p=hour_shares) * 3600 + rng.integers(0, 3600, n)
    day = rows.month_start[picks] + (rng.random(n) * rows.month_days[picks]).astype(np.int64)

    return [
        ("id", ids),
        ("place", rows.place[picks]),
        ("dx", radius * np.cos(angle)),
        ("dy", radius * np.sin(angle)),
        ("safe", safe),
        ("reason1", reasons[:, 0]),
        ("reason2", reasons[:, 1]),
        ("reason3", reasons[:, 2]),
        ("severity", severity),
        ("felt_known", rng.random(n) >= UNKNOWN_TIME_SHARE),
        # PostgreSQL's timestamp: microseconds since 2000-01-01 00:00.
        ("felt_local", (day * 86400 + seconds) * 1_000_000),
        ("delay", rng.integers(0, MAX_DELAY_SECONDS, n, dtype=np.int32)),
    ]


_PGCOPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, no extension
_PGCOPY_TRAILER = b"\xff\xff"  # a field count of -1


def _copy_binary(cursor: Any, table: str, columns: Sequence[tuple[str, np.ndarray]]) -> None:
    """COPY equal-length arrays of fixed-width values into a table in PostgreSQL's binary
    format: every row has the same layout, so one numpy record array is the whole body.

    Each array's dtype must be its column's binary form: bool for boolean, int16 smallint,
    int32 integer, int64 timestamp (microseconds since 2000-01-01), float64 float8 and
    16-byte void for uuid. PostgreSQL refuses anything else.
    """
    layout: list[tuple[str, Any]] = [("field_count", ">i2")]
    for name, values in columns:
        layout += [(f"{name}_length", ">i4"), (name, values.dtype.newbyteorder(">"))]
    records = np.empty(len(columns[0][1]), dtype=layout)
    records["field_count"] = len(columns)
    for name, values in columns:
        records[f"{name}_length"] = values.dtype.itemsize
        records[name] = values
    body = io.BytesIO(_PGCOPY_HEADER + records.tobytes() + _PGCOPY_TRAILER)
    names = ", ".join(name for name, _ in columns)
    cursor.copy_expert(f"COPY {table} ({names}) FROM STDIN (FORMAT binary)", body, 1 << 20)


DELETE_DECISIONS_SQL = """
    DELETE FROM reports_moderationdecision
    WHERE report_id IN (SELECT id FROM reports_report WHERE source = %s)
"""
DELETE_SQL = "DELETE FROM reports_report WHERE source = %s"

# The reports from this source, and the others.
COUNT_SQL = """
    SELECT count(*) FILTER (WHERE source = %s), count(*) FILTER (WHERE source <> %s)
    FROM reports_report
"""

# The indexes on reports_report that no constraint owns, with the statements that build them.
SECONDARY_INDEXES_SQL = """
    SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
    FROM pg_index i
    WHERE i.indrelid = 'reports_report'::regclass
      AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
    ORDER BY 1
"""

# ON COMMIT DROP: nothing is left behind if the load fails. demo_load drops them itself
# when it succeeds, as inside a test's transaction there is no commit.
CREATE_SQL = """
    CREATE TEMPORARY TABLE demo_place_input (
        i integer NOT NULL,
        longitude float8 NOT NULL,
        latitude float8 NOT NULL,
        street varchar(120) NOT NULL
    ) ON COMMIT DROP;
    CREATE TEMPORARY TABLE demo_place (
        i integer PRIMARY KEY,
        point geometry NOT NULL,
        street varchar(120) NOT NULL,
        inside boolean NOT NULL,
        area_id bigint,
        near_edge boolean NOT NULL
    ) ON COMMIT DROP;
    CREATE TEMPORARY TABLE demo_staging (
        id uuid NOT NULL,
        place integer NOT NULL,
        dx float8 NOT NULL,
        dy float8 NOT NULL,
        safe boolean NOT NULL,
        reason1 smallint NOT NULL,
        reason2 smallint NOT NULL,
        reason3 smallint NOT NULL,
        severity smallint NOT NULL,
        felt_known boolean NOT NULL,
        felt_local timestamp NOT NULL,
        delay integer NOT NULL
    ) ON COMMIT DROP;
"""
# The foreign keys that point at reports_report: their tables, names and definitions.
REFERENCING_FOREIGN_KEYS_SQL = """
    SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
    FROM pg_constraint c
    WHERE c.contype = 'f' AND c.confrelid = 'reports_report'::regclass
    ORDER BY 1, 2
"""
DROP_SQL = "DROP TABLE demo_place_input, demo_place, demo_staging, demo_edge"

# The boundaries of the force and local policing areas in ANALYSIS_SRID, in small indexed
# pieces, for the ST_DWithin test in PLACE_SQL.
EDGE_SQL = """
    CREATE TEMPORARY TABLE demo_edge ON COMMIT DROP AS
    SELECT d.geom
    FROM geo_area a,
         ST_Subdivide(ST_Transform(ST_Boundary(a.geom), %(srid)s), 64) AS d(geom)
    WHERE a.kind IN ('force', 'lpa');
    CREATE INDEX ON demo_edge USING gist (geom);
"""

# Each map point projected and located (the same indexed lookup as
# geo.areas.locate_points), and whether it lies near a boundary.
PLACE_SQL = """
    INSERT INTO demo_place (i, point, street, inside, area_id, near_edge)
    SELECT r.i, j.projected, r.street,
           EXISTS (
               SELECT 1 FROM geo_areapart p
               WHERE p.kind = 'force' AND ST_Intersects(p.geom, w.point)
           ),
           (
               SELECT p.area_id FROM geo_areapart p
               WHERE p.kind = 'lpa' AND ST_Intersects(p.geom, w.point)
               LIMIT 1
           ),
           EXISTS (
               SELECT 1 FROM demo_edge e WHERE ST_DWithin(e.geom, j.projected, %(edge_metres)s)
           )
    FROM demo_place_input r,
         ST_SetSRID(ST_MakePoint(r.longitude, r.latitude), 4326) AS w(point),
         ST_Transform(w.point, %(srid)s) AS j(projected)
"""

# One chunk: each staged report is its place's point moved by (dx, dy) metres, located
# again only when that place is near a boundary, and stored when inside a force area (and,
# with lpa_only, inside a local policing area too).
# Reasons are 1-based positions in %(codes)s; 0, out of range, gives NULL, then removed.
# Times are drawn in local time; none is later than %(now)s (a month not yet over).
INSERT_SQL = """
    INSERT INTO reports_report (
        id, location, location_projected, area_id, reasons, feeling, severity, felt_at,
        received_at, description, description_redacted, text_state, app_version, source,
        street, body_digest, receipt_hash
    )
    SELECT m.id, m.point, m.projected,
           CASE WHEN m.near_edge THEN (
               SELECT p.area_id FROM geo_areapart p
               WHERE p.kind = 'lpa' AND ST_Intersects(p.geom, m.point)
               LIMIT 1
           ) ELSE m.area_id END,
           array_remove(
               ARRAY[
                   (%(codes)s::varchar(32)[])[m.reason1],
                   (%(codes)s::varchar(32)[])[m.reason2],
                   (%(codes)s::varchar(32)[])[m.reason3]
               ],
               NULL
           ),
           CASE WHEN m.safe THEN 'safe' ELSE 'unsafe' END,
           NULLIF(m.severity, 0),
           CASE WHEN m.felt_known THEN m.felt END,
           date_trunc('hour', LEAST(m.felt + make_interval(secs => m.delay), %(now)s), 'UTC'),
           '', '', 'none', '', %(source)s, m.street, '', ''
    FROM (
        SELECT t.*, ST_Transform(t.projected, 4326) AS point
        FROM (
            SELECT s.*, p.street, p.inside, p.area_id, p.near_edge,
                   ST_Translate(p.point, s.dx, s.dy) AS projected,
                   LEAST(s.felt_local AT TIME ZONE %(time_zone)s, %(now)s) AS felt
            FROM demo_staging s
            JOIN demo_place p ON p.i = s.place
            -- OFFSET 0 keeps each subquery whole, so each point is computed once per row
            -- rather than once per use.
            OFFSET 0
        ) t
        OFFSET 0
    ) m
    WHERE CASE WHEN m.near_edge THEN EXISTS (
              SELECT 1 FROM geo_areapart p
              WHERE p.kind = 'force' AND ST_Intersects(p.geom, m.point)
          ) AND (NOT %(lpa_only)s OR EXISTS (
              SELECT 1 FROM geo_areapart p
              WHERE p.kind = 'lpa' AND ST_Intersects(p.geom, m.point)
          )) ELSE m.inside AND (NOT %(lpa_only)s OR m.area_id IS NOT NULL) END
"""
