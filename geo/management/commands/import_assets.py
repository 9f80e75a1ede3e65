import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from geo.assets import (
    ASSET_KINDS,
    POSITION_DECIMALS,
    AssetFields,
    AssetImportError,
    AssetImportResult,
    assets_import,
)
from geo.models import Camera, Organisation

# The skipped rows listed one by one at the default verbosity; the rest are counted (all are
# listed with -v 2).
SKIPPED_LISTED = 20


def _srid(value: str) -> int:
    text = value.strip().upper().removeprefix("EPSG:")
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not an EPSG code such as 27700")
    return int(text)


class Command(BaseCommand):
    help = (
        "Imports street lights or cameras from one layer of a file GDAL reads (CSV with "
        "longitude/latitude or easting/northing columns, GeoJSON, Shapefile, GeoPackage...), "
        "creating or updating each asset by its external id within its owner. Without "
        "--id-field the id is made from the position (longitude and latitude rounded to "
        f"{POSITION_DECIMALS} decimals, about 0.1 m, and numbered in file order where "
        "several rows share a position), so importing the same file again updates its "
        "assets instead of adding them twice. An attribute whose field is not given is left "
        "as it is on assets already stored. Rows that cannot be stored are listed with "
        "their row number (CSV, as a spreadsheet numbers it) or feature id and skipped; "
        "everything else is stored, in one transaction."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the file to read")
        parser.add_argument(
            "--kind", required=True, choices=ASSET_KINDS, help="street lights or cameras"
        )
        parser.add_argument(
            "--layer", help="the layer to read; may be left out when the file has one layer"
        )
        parser.add_argument(
            "--id-field",
            help=(
                "the field holding each asset's own id, unique in the file; without it the "
                "id is made from the position"
            ),
        )
        parser.add_argument(
            "--lon-field",
            help=(
                "the field holding the longitude (WGS84), with --lat-field; default: the "
                "layer's geometry, or for a CSV a column named longitude, lon or lng"
            ),
        )
        parser.add_argument(
            "--lat-field", help="the field holding the latitude (WGS84), with --lon-field"
        )
        parser.add_argument(
            "--x-field", help="the field holding the x coordinate (easting), with --srid"
        )
        parser.add_argument(
            "--y-field", help="the field holding the y coordinate (northing), with --srid"
        )
        parser.add_argument(
            "--srid",
            type=_srid,
            help=(
                "the EPSG code of the coordinates: needed with --x-field and --y-field "
                "(27700 for British National Grid); for a layer's geometry it replaces the "
                "layer's own spatial reference"
            ),
        )
        parser.add_argument(
            "--organisation",
            metavar="SLUG",
            help="the organisation that owns the assets (default: none, open data for everyone)",
        )
        parser.add_argument(
            "--prune",
            action="store_true",
            help=(
                "the file is the owner's whole register: delete their assets of this kind "
                "that it does not list (only when no row was skipped)"
            ),
        )
        parser.add_argument("--label-field", help="the field holding a street or site name")
        parser.add_argument(
            "--working-field",
            help=(
                "the field saying whether the asset works: yes/no, true/false, 1/0, "
                "working/faulty (empty: working)"
            ),
        )
        lights = parser.add_argument_group("street lights")
        lights.add_argument("--lamp-type-field", help="the field holding the lamp type")
        lights.add_argument(
            "--wattage-field", help="the field holding the wattage, a whole number (35 or 35W)"
        )
        cameras = parser.add_argument_group("cameras")
        cameras.add_argument(
            "--kind-field",
            help=(
                "the field that says what kind of camera it is: a value mentioning "
                "'traffic' makes a traffic camera, one mentioning 'private' a private one, "
                "anything else --camera-kind"
            ),
        )
        cameras.add_argument(
            "--camera-kind",
            choices=Camera.Kind.values,
            help=(
                "the kind of every camera, or with --kind-field of those it does not say "
                "are traffic or private; default: public_space for new cameras, stored "
                "ones keep theirs"
            ),
        )
        cameras.add_argument(
            "--range-field", help="the field holding how far the camera sees, in metres"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        organisation = _organisation(options["organisation"])
        with tqdm(
            unit="row",
            unit_scale=True,
            # None: shown on a terminal only.
            disable=True if options["verbosity"] == 0 else None,
        ) as bar:

            def progress(done: int, expected: int | None) -> None:
                bar.total = expected
                bar.update(done - bar.n)

            try:
                result = assets_import(
                    kind=options["kind"],
                    path=options["file"],
                    layer=options["layer"],
                    id_field=options["id_field"],
                    lon_field=options["lon_field"],
                    lat_field=options["lat_field"],
                    x_field=options["x_field"],
                    y_field=options["y_field"],
                    srid=options["srid"],
                    organisation=organisation,
                    fields=AssetFields(
                        label=options["label_field"],
                        working=options["working_field"],
                        lamp_type=options["lamp_type_field"],
                        wattage=options["wattage_field"],
                        kind=options["kind_field"],
                        range_m=options["range_field"],
                    ),
                    camera_kind=options["camera_kind"],
                    prune=options["prune"],
                    progress=progress,
                )
            except AssetImportError as error:
                raise CommandError(str(error)) from error
        self._summary(result, options)

    def _summary(self, result: AssetImportResult, options: dict[str, Any]) -> None:
        what = "street lights" if options["kind"] == "light" else "cameras"
        if result.prune_refused:
            self.stderr.write(result.prune_refused)
        if options["verbosity"] == 0:  # quiet: only what went wrong, on stderr
            if result.skipped:
                self.stderr.write(
                    f"Skipped {len(result.skipped):,} rows (without -v 0 they are listed)."
                )
            return
        self.stdout.write(f"Read {result.rows:,} rows from {result.source}.")
        self.stdout.write(
            f"Created {result.created:,}, updated {result.updated:,}, unchanged "
            f"{result.unchanged:,}, skipped {len(result.skipped):,} {what} in "
            f"{result.seconds:.2f} s ({result.rows_per_second:,.0f} rows/s)."
        )
        if result.pruned is not None:
            self.stdout.write(f"Pruned {result.pruned:,} {what} that the file no longer lists.")
        listed = result.skipped if options["verbosity"] >= 2 else result.skipped[:SKIPPED_LISTED]
        for skipped in listed:
            self.stdout.write(f"  skipped {skipped}")
        if len(result.skipped) > len(listed):
            self.stdout.write(
                f"  ... and {len(result.skipped) - len(listed):,} more (all with -v 2)"
            )


def _organisation(slug: str | None) -> Organisation | None:
    if slug is None:
        return None
    organisation = Organisation.objects.filter(slug=slug).first()
    if organisation is None:
        known = ", ".join(Organisation.objects.values_list("slug", flat=True)) or "none yet"
        raise CommandError(
            f"--organisation: no organisation has the slug {slug!r} (slugs: {known}). "
            "Create it with create_organisation."
        )
    return organisation
