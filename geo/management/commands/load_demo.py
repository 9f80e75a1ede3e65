import argparse
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from geo.demo import DEFAULT_SEED, SOURCE, DemoError, demo_load
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
        "reports already stored are replaced; reports from the app are never touched."
    )

    def add_arguments(self, parser: CommandParser) -> None:
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
                "the folder holding the police.uk *-street.csv files, directly or in its "
                "police-uk/west-mercia folder; default: SHARED_DATA_DIR/police-uk/west-mercia"
            ),
        )
        parser.add_argument(
            "--if-missing",
            action="store_true",
            help="do nothing if there are demo reports already",
        )
        parser.add_argument(
            "--append",
            action="store_true",
            help="keep the demo reports already stored and add to them (with another --seed)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["if_missing"] and Report.objects.filter(source=SOURCE).exists():
            self.stdout.write("Demo reports are already loaded.")
            return
        if options["data_dir"]:
            data_dir = Path(options["data_dir"])
        else:
            data_dir = settings.SHARED_DATA_DIR / "police-uk" / "west-mercia"
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

            try:
                result = demo_load(
                    data_dir=data_dir,
                    scale=options["scale"],
                    seed=options["seed"],
                    replace=not options["append"],
                    progress=progress,
                )
            except DemoError as error:
                raise CommandError(str(error)) from error
        self.stdout.write(
            f"Made {result.made:,} demo reports from {result.rows:,} police.uk rows with "
            f"coordinates ({result.rows_without_coordinates:,} without were skipped); "
            f"dropped {result.dropped:,} outside the force area; "
            f"{result.seconds:.1f} s."
        )
