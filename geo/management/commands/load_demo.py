import argparse
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from geo.demo import (
    DEFAULT_SEED,
    REGIONS,
    SHEFFIELD_PLANNER,
    DemoError,
    DemoResult,
    SheffieldResult,
    demo_load,
    sheffield_load,
)
from reports.models import Report


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value} is not at least 1")
    return number


class Command(BaseCommand):
    help = (
        "Makes demo reports (source 'demo') around the real police.uk street-level crime "
        "in West Mercia: one per row with coordinates, or exactly --scale of them drawn "
        "from the rows with replacement. Points outside the force area are dropped. Demo "
        "reports already stored are replaced; reports from the app are never touched. "
        "With --region sheffield, the Sheffield region instead (source 'demo-sheffield'): "
        "South Yorkshire's force area with Sheffield as a local policing area, Sheffield "
        "City Council with a planner, the city's CCTV cameras, and demo reports around one "
        "month of Sheffield street crime (points outside Sheffield are dropped)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--region",
            choices=list(REGIONS),
            default="west-mercia",
            help="the region to load (default west-mercia)",
        )
        parser.add_argument(
            "--scale",
            type=_positive,
            help="make exactly this many reports (default: one per row with coordinates)",
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=DEFAULT_SEED,
            help=f"the random seed: the same seed makes the same reports (default {DEFAULT_SEED})",
        )
        parser.add_argument(
            "--data-dir",
            help=(
                "west-mercia: the folder holding the police.uk *-street.csv files, directly "
                "or in its police-uk/west-mercia folder; default: "
                "SHARED_DATA_DIR/police-uk/west-mercia. sheffield: a folder laid out like "
                "the shared data (boundaries/, police-uk/sheffield/, assets/); default: "
                "SHARED_DATA_DIR"
            ),
        )
        parser.add_argument(
            "--if-missing",
            action="store_true",
            help="do nothing if there are demo reports of the region already",
        )
        parser.add_argument(
            "--append",
            action="store_true",
            help="keep the demo reports already stored and add to them (with another --seed)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        region = options["region"]
        source = REGIONS[region].source
        if options["if_missing"] and Report.objects.filter(source=source).exists():
            self.stdout.write("Demo reports are already loaded.")
            return
        if options["data_dir"]:
            data_dir = Path(options["data_dir"])
        elif region == "west-mercia":
            data_dir = settings.SHARED_DATA_DIR / "police-uk" / "west-mercia"
        else:
            data_dir = settings.SHARED_DATA_DIR
        with tqdm(
            total=options["scale"],
            unit="report",
            unit_scale=True,
            # None: shown on a terminal only.
            disable=True if options["verbosity"] == 0 else None,
        ) as bar:

            def progress(made: int, wanted: int) -> None:
                bar.total = wanted
                bar.update(made - bar.n)

            load = {
                "data_dir": data_dir,
                "scale": options["scale"],
                "seed": options["seed"],
                "replace": not options["append"],
                "progress": progress,
            }
            try:
                if region == "west-mercia":
                    result = demo_load(**load)
                else:
                    sheffield = sheffield_load(**load)
                    result = sheffield.reports
            except DemoError as error:
                raise CommandError(str(error)) from error
        if region != "west-mercia":
            self._sheffield(sheffield)
        self._made(result)

    def _made(self, result: DemoResult) -> None:
        self.stdout.write(
            f"Made {result.made:,} demo reports from {result.rows:,} police.uk rows with "
            f"coordinates ({result.rows_without_coordinates:,} without were skipped); "
            f"dropped {result.dropped:,} outside {result.outside}; "
            f"{result.seconds:.1f} s."
        )

    def _sheffield(self, result: SheffieldResult) -> None:
        for area, created in result.areas:
            self.stdout.write(f"{'Created' if created else 'Updated'} {area} [{area.code}]")
        organisation = result.organisation
        self.stdout.write(
            f"{'Created' if result.organisation_created else 'Updated'} organisation "
            f"{organisation.name} [{organisation.slug}] and its planner {result.planner}."
        )
        if not result.planner_can_sign_in:
            self.stdout.write(
                f"  {SHEFFIELD_PLANNER} has no password: set one with "
                f"manage.py changepassword {SHEFFIELD_PLANNER}, or use a token "
                f"(manage.py create_planner {SHEFFIELD_PLANNER} --organisation "
                f"{organisation.slug} --token)."
            )
        self.stdout.write(
            f"Cameras: created {result.cameras_created}, updated {result.cameras_updated}, "
            f"unchanged {result.cameras_unchanged}, skipped {result.cameras_skipped}."
        )
