from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from geo.access import organisation_area_ids, organisation_upsert
from geo.models import Area

# How each field the service validates is called on the command line.
ARGUMENTS = {"name": "NAME", "slug": "--slug"}


class Command(BaseCommand):
    help = (
        "Creates an organisation covering the given areas, or updates the one with this "
        "name so that it covers exactly them. Its planners see those areas and every area "
        "inside them: a force-wide organisation covers the force area (e.g. E23000016), a "
        "council its district or local policing area (e.g. wm-shropshire)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="the organisation's name, unique")
        parser.add_argument(
            "--area",
            action="append",
            required=True,
            metavar="CODE",
            help="the code of an area it covers; give --area once per area",
        )
        parser.add_argument(
            "--slug",
            help=(
                "its short name in URLs and commands (letters, digits, - and _); default: "
                "made from the name for a new organisation, kept for an existing one"
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"].strip()
        codes = list(dict.fromkeys(code.strip() for code in options["area"]))
        areas = list(Area.objects.filter(code__in=codes).defer("geom"))
        unknown = sorted(set(codes) - {area.code for area in areas})
        if unknown:
            raise CommandError(
                f"--area: no area has the code {', '.join(unknown)}. "
                "Areas are loaded with load_west_mercia or import_areas."
            )
        try:
            organisation, created = organisation_upsert(
                name=name, areas=areas, slug=options["slug"]
            )
        except ValidationError as error:
            raise CommandError(_describe(error)) from error

        self.stdout.write(
            f"{'Created' if created else 'Updated'} organisation {organisation.name} "
            f"[{organisation.slug}], covering:"
        )
        for area in sorted(areas, key=lambda area: area.code):
            self.stdout.write(f"  {area} [{area.code}]")
        seen = len(organisation_area_ids(organisation=organisation))
        self.stdout.write(f"Its planners see {_areas(seen)}: these and those inside them.")


def _describe(error: ValidationError) -> str:
    return "; ".join(
        f"{ARGUMENTS.get(field, field)}: {' '.join(messages)}"
        for field, messages in error.message_dict.items()
    )


def _areas(count: int) -> str:
    return f"{count} area{'' if count == 1 else 's'}"
