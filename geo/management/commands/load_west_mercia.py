import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.gis.geos import GEOSGeometry, MultiPolygon
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from geo.areas import area_upsert, as_multipolygon
from geo.importers import LayerReader, SourceError, SourceFeature, layer_names
from geo.models import Area

FORCE_CODE = "E23000016"
FORCE_NAME = "West Mercia"
FORCES_FILE = "police_force_areas_2020.geojson"
# TopoJSON as published; a GeoJSON of the same stem is read when there is no TopoJSON.
DISTRICTS_STEM = "local_authority_districts_gb_2013"
DISTRICTS_LAYER = "lad"

# (code, name, the 2013 districts it is made of, by their whole LAD13NM)
LOCAL_POLICING_AREAS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("wm-herefordshire", "Herefordshire", ("Herefordshire, County of",)),
    ("wm-shropshire", "Shropshire", ("Shropshire",)),
    ("wm-telford-wrekin", "Telford & Wrekin", ("Telford and Wrekin",)),
    ("wm-north-worcestershire", "North Worcestershire", ("Bromsgrove", "Redditch", "Wyre Forest")),
    ("wm-south-worcestershire", "South Worcestershire", ("Worcester", "Wychavon", "Malvern Hills")),
)


class Command(BaseCommand):
    help = (
        "Loads West Mercia's police force area and its five local policing areas (each "
        "dissolved from its districts) from the shared boundary data. Safe to run again: "
        "every area is created or updated by its code, all in one transaction."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--data-dir",
            help=(
                f"the folder holding {FORCES_FILE} and {DISTRICTS_STEM}.topojson (or "
                ".geojson), directly or in its boundaries/ folder; default: SHARED_DATA_DIR"
            ),
        )
        parser.add_argument(
            "--if-missing",
            action="store_true",
            help="do nothing if the force area and its five local policing areas exist",
        )
        parser.add_argument(
            "--districts",
            action="store_true",
            help="also store the nine districts (kind district, parent: their policing area)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        codes = [FORCE_CODE, *(code for code, _, _ in LOCAL_POLICING_AREAS)]
        if options["if_missing"] and Area.objects.filter(code__in=codes).count() == len(codes):
            self.stdout.write("West Mercia's boundaries are already loaded.")
            return
        started = time.monotonic()
        data_dir = Path(options["data_dir"] or settings.SHARED_DATA_DIR)
        try:
            force_geom = _force_geometry(_find(data_dir, [FORCES_FILE]))
            districts = _districts(
                _find(data_dir, [f"{DISTRICTS_STEM}.topojson", f"{DISTRICTS_STEM}.geojson"])
            )
        except SourceError as error:
            raise CommandError(str(error)) from error

        with transaction.atomic():
            force, created = area_upsert(
                code=FORCE_CODE, name=FORCE_NAME, kind=Area.Kind.FORCE, geom=force_geom
            )
            self._report(force, created)
            for code, name, names in LOCAL_POLICING_AREAS:
                parts = [districts[n] for n in names]
                lpa, created = area_upsert(
                    code=code,
                    name=name,
                    kind=Area.Kind.LOCAL_POLICING_AREA,
                    geom=_dissolve([p.geom for p in parts if p.geom is not None]),
                    parent=force,
                )
                self._report(lpa, created)
                if options["districts"]:
                    for part in parts:
                        assert part.geom is not None  # checked in _districts
                        district, created = area_upsert(
                            code=part.code,
                            name=part.name,
                            kind=Area.Kind.DISTRICT,
                            geom=_valid(part.geom),
                            parent=lpa,
                        )
                        self._report(district, created)
        self.stdout.write(f"Done in {time.monotonic() - started:.1f} s.")

    def _report(self, area: Area, created: bool) -> None:
        self.stdout.write(f"{'Created' if created else 'Updated'} {area} [{area.code}]")


def _find(data_dir: Path, names: list[str]) -> Path:
    candidates = [folder / name for name in names for folder in (data_dir / "boundaries", data_dir)]
    for path in candidates:
        if path.is_file():
            return path
    raise SourceError(f"None of these files exists: {', '.join(map(str, candidates))}")


def _force_geometry(path: Path) -> GEOSGeometry:
    reader = LayerReader(
        path, code_field="PFA20CD", name_field="PFA20NM", where=f"PFA20CD = '{FORCE_CODE}'"
    )
    geoms = [f.geom for f in reader if f.geom is not None]
    if len(geoms) != 1:
        raise SourceError(f"{path} has {len(geoms)} areas with PFA20CD = {FORCE_CODE}")
    return _valid(geoms[0])


def _districts(path: Path) -> dict[str, SourceFeature]:
    """The districts of every local policing area, by their whole name."""
    wanted = sorted({name for _, _, names in LOCAL_POLICING_AREAS for name in names})
    quoted = ", ".join("'" + name.replace("'", "''") + "'" for name in wanted)
    layers = layer_names(path)
    reader = LayerReader(
        path,
        layer=DISTRICTS_LAYER if DISTRICTS_LAYER in layers else None,
        code_field="LAD13CD",
        name_field="LAD13NM",
        where=f"LAD13NM IN ({quoted})",
    )
    found = {f.name: f for f in reader if f.geom is not None}
    missing = [name for name in wanted if name not in found]
    if missing:
        raise SourceError(f"{path} has no district named {', '.join(map(repr, missing))}")
    return found


def _valid(geom: GEOSGeometry) -> MultiPolygon:
    # make_valid() first: asking an invalid geometry whether it is valid (as as_multipolygon
    # does) logs a GEOS notice for each fault, and the districts have a few.
    return as_multipolygon(geom.make_valid())  # type: ignore[attr-defined]  # not in the stubs


def _dissolve(geoms: list[GEOSGeometry]) -> MultiPolygon:
    polygons = [polygon for geom in geoms for polygon in _valid(geom)]
    return _valid(MultiPolygon(*polygons, srid=4326).unary_union)
