import time

from django.core.management.base import BaseCommand, CommandError, CommandParser

from geo.hotspots.rebuild import hotspots_rebuild
from geo.hotspots.schedule import rebuild_lock


class Command(BaseCommand):
    help = (
        "Rebuilds the hotspots now, in the foreground: every resolution's cells, Gi* and "
        "classes, emerging trends and places, swapped in as one new generation."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--wait",
            type=float,
            default=600.0,
            help="Seconds to wait for a rebuild already running elsewhere (default 600).",
        )

    def handle(self, *args: object, **options: object) -> None:
        started = time.monotonic()

        def progress(step: str) -> None:
            self.stdout.write(f"[{time.monotonic() - started:6.1f} s] {step}")

        wait = float(options["wait"])  # type: ignore[arg-type]
        with rebuild_lock(wait_seconds=max(wait, 0.001)) as acquired:
            if not acquired:
                raise CommandError(
                    f"Another rebuild is still running after {wait:.0f} s; try again later."
                )
            generation = hotspots_rebuild(progress=progress)
        self.stdout.write(
            self.style.SUCCESS(
                f"Generation {generation.pk}: {generation.report_count} reports, "
                f"{generation.cell_count} cells, {generation.place_count} places "
                f"in {generation.duration_seconds:.1f} s."
            )
        )
