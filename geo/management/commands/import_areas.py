from dataclasses import dataclass, field
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from tqdm import tqdm

from geo.areas import area_upsert, as_multipolygon
from geo.importers import LayerReader, SourceError
from geo.models import Area

# Below this many features a progress bar is only noise.
PROGRESS_BAR_MIN_FEATURES = 50
# The skipped features listed one by one; the rest are counted.
SKIPPED_LISTED = 20


@dataclass
class Tally:
    created: int = 0
    updated: int = 0
    skipped: list[str] = field(default_factory=list)


class Command(BaseCommand):
    help = (
        "Imports boundaries from a vector file (GeoJSON, TopoJSON, Shapefile, GeoPackage, "
        "anything GDAL reads) as areas of one kind, creating or updating each by its code. "
        "The whole file is imported in one transaction."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the file to read")
        parser.add_argument(
            "--layer", help="the layer to read; may be left out when the file has one layer"
        )
        parser.add_argument("--code-field", required=True, help="the field holding the code")
        parser.add_argument("--name-field", required=True, help="the field holding the name")
        parser.add_argument(
            "--kind", required=True, choices=Area.Kind.values, help="the kind of the areas"
        )
        parser.add_argument(
            "--where",
            help=(
                "an OGR SQL attribute filter, e.g. \"PFA20CD = 'E23000016'\" or "
                "\"LAD13NM IN ('Worcester', 'Wychavon')\" (whole values; LIKE or ILIKE "
                "with %% for patterns)"
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            reader = LayerReader(
                options["file"],
                layer=options["layer"],
                code_field=options["code_field"],
                name_field=options["name_field"],
                where=options["where"],
            )
        except SourceError as error:
            raise CommandError(str(error)) from error
        filtered = f" where {reader.where}" if reader.where else ""
        self.stdout.write(
            f"Reading {len(reader)} features from layer {reader.layer_name!r} of "
            f"{reader.path} ({reader.source_srs}){filtered}"
        )
        tally = self._import(reader, kind=options["kind"])
        self.stdout.write(
            f"Created {tally.created}, updated {tally.updated}, skipped {len(tally.skipped)} "
            f"{options['kind']} areas."
        )
        for reason in tally.skipped[:SKIPPED_LISTED]:
            self.stdout.write(f"  skipped {reason}")
        if len(tally.skipped) > SKIPPED_LISTED:
            self.stdout.write(f"  ... and {len(tally.skipped) - SKIPPED_LISTED} more")

    @transaction.atomic
    def _import(self, reader: LayerReader, *, kind: str) -> Tally:
        tally = Tally()
        seen: dict[str, int] = {}
        kinds = dict(Area.objects.values_list("code", "kind"))
        features = tqdm(
            reader,
            total=len(reader),
            unit="area",
            # None: shown on a terminal only.
            disable=True if len(reader) < PROGRESS_BAR_MIN_FEATURES else None,
        )
        for feature in features:
            where = f"feature {feature.fid}"
            if not feature.code:
                tally.skipped.append(f"{where}: no {reader.code_field}")
                continue
            where = f"{where} ({feature.code})"
            if feature.code in seen:
                tally.skipped.append(f"{where}: code also used by feature {seen[feature.code]}")
                continue
            seen[feature.code] = feature.fid
            if not feature.name:
                tally.skipped.append(f"{where}: no {reader.name_field}")
                continue
            if feature.geom is None:
                tally.skipped.append(f"{where}: no geometry")
                continue
            existing_kind = kinds.get(feature.code)
            if existing_kind is not None and existing_kind != kind:
                tally.skipped.append(f"{where}: already stored as a {existing_kind} area")
                continue
            try:
                # make_valid() first, or as_multipolygon's validity test logs every fault.
                geom = as_multipolygon(feature.geom.make_valid())  # type: ignore[attr-defined]
            except ValueError as error:
                tally.skipped.append(f"{where}: {error}")
                continue
            _, created = area_upsert(code=feature.code, name=feature.name, kind=kind, geom=geom)
            if created:
                tally.created += 1
            else:
                tally.updated += 1
        return tally
