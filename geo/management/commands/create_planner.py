import os
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q
from knox.models import AuthToken

from geo.access import organisation_area_ids, planner_upsert
from geo.models import Organisation

# How each field the service validates is called on the command line.
ARGUMENTS = {"username": "USERNAME", "email": "--email"}


class Command(BaseCommand):
    help = (
        "Creates a planner of an organisation, or updates the user with this name: puts "
        "them in the planners group and links them to the organisation. A new user given "
        "no password gets an unusable one; an existing one keeps theirs. With --token, "
        "prints a new API token for API clients and QGIS (only its digest is stored, so it "
        "is shown once), which replaces any token they had."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", help="the planner's user name")
        parser.add_argument(
            "--organisation",
            required=True,
            metavar="SLUG_OR_NAME",
            help="the slug or the name of the organisation they work for",
        )
        parser.add_argument("--email", help="their e-mail address")
        parser.add_argument(
            "--password-from-env",
            metavar="VAR",
            help="the environment variable holding their password (never on the command line)",
        )
        parser.add_argument(
            "--token", action="store_true", help="make and print a new API token, replacing theirs"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        organisation = _organisation(options["organisation"])
        password = None
        if options["password_from_env"] is not None:
            password = _password(options["password_from_env"])
        previous = Organisation.objects.filter(planners__user__username=options["username"]).first()
        try:
            user, created = planner_upsert(
                username=options["username"],
                organisation=organisation,
                email=options["email"],
                password=password,
            )
        except ValidationError as error:
            raise CommandError(
                _describe(error, password_variable=options["password_from_env"])
            ) from error

        seen = len(organisation_area_ids(organisation=organisation))
        self.stdout.write(
            f"{'Created' if created else 'Updated'} planner {user.username} of "
            f"{organisation.name} [{organisation.slug}], who sees {_areas(seen)}."
        )
        if previous is not None and previous != organisation:
            self.stdout.write(f"  Moved from {previous.name} [{previous.slug}].")
        if not user.has_usable_password():
            self.stdout.write("  No password: they cannot sign in to the site, only use a token.")
        if not user.is_active:
            self.stdout.write("  Their account is inactive: they see nothing until it is active.")
        if options["token"]:
            # Only a digest is stored, so a token cannot be shown again: a new one
            # replaces any the planner had.
            revoked, _ = AuthToken.objects.filter(user=user).delete()
            _, key = AuthToken.objects.create(user=user, expiry=None)
            self.stdout.write(f"Token: {key}")
            if revoked:
                self.stdout.write(
                    f"  It replaces the {revoked} token(s) they had, which no longer work."
                )
            self.stdout.write(
                "  Send it as the header 'Authorization: Token <token>'. Keep it as secret as "
                "a password: it is shown only now. Delete it in the admin (Knox: Auth tokens) "
                "to revoke it."
            )


def _organisation(slug_or_name: str) -> Organisation:
    matches = list(Organisation.objects.filter(Q(slug=slug_or_name) | Q(name=slug_or_name)))
    # A slug match wins over a name match: slugs are what scripts pass.
    matches.sort(key=lambda organisation: organisation.slug != slug_or_name)
    if matches:
        return matches[0]
    known = ", ".join(Organisation.objects.values_list("slug", flat=True)) or "none yet"
    raise CommandError(
        f"--organisation: no organisation has the slug or name {slug_or_name!r} "
        f"(slugs: {known}). Create it with create_organisation."
    )


def _password(variable: str) -> str:
    password = os.environ.get(variable)
    if password is None:
        raise CommandError(f"--password-from-env: the environment variable {variable} is not set.")
    if not password:
        raise CommandError(f"--password-from-env: the environment variable {variable} is empty.")
    return password


def _describe(error: ValidationError, *, password_variable: str | None) -> str:
    arguments = {**ARGUMENTS, "password": f"--password-from-env {password_variable}"}
    return "; ".join(
        f"{arguments.get(field, field)}: {' '.join(messages)}"
        for field, messages in error.message_dict.items()
    )


def _areas(count: int) -> str:
    return f"{count} area{'' if count == 1 else 's'}"
