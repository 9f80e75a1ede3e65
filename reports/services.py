"""Writes to reports: intake, erasure, moderation and retention."""

import binascii
import functools
import hashlib
import hmac
import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from django.conf import settings
from django.contrib.auth.models import User
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.db.models import Q
from django.dispatch import receiver
from django.utils import timezone

from geo.areas import area_locator, locate_points, service_area_name
from reports.intake import InvalidReport, ReportInput
from reports.models import ModerationDecision, Report
from reports.redaction import redact

Outcome = Literal["created", "duplicate", "conflict", "invalid"]


@dataclass(frozen=True)
class SubmitResult:
    outcome: Outcome
    # The report's id in its canonical text form (ReportInput.key).
    id: str | None = None
    receipt: str | None = None
    area_code: str | None = None
    area_name: str | None = None
    reasons: tuple[str, ...] = ()
    errors: dict[str, list[str]] | None = None


@functools.cache
def _receipt_key(secret_key: str) -> bytes:
    return hashlib.sha256(f"streetsafe-receipt:{secret_key}".encode()).digest()


def receipt_for(report_id: uuid.UUID | str, digest: str) -> str:
    """The receipt secret for a report: derived, so a replay gets the same one back.

    Only its hash is stored. It can be derived again only with the server's key and the
    exact body the app sent, which includes the app-made id nobody else sees.
    """
    mac = hmac.digest(_receipt_key(settings.SECRET_KEY), f"{report_id}:{digest}".encode(), "sha256")
    # base64.urlsafe_b64encode, without its two layers of Python.
    return binascii.b2a_base64(mac, newline=False).translate(_URLSAFE).decode().rstrip("=")


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def receipt_hash(receipt: str) -> str:
    return hashlib.sha256(receipt.encode()).hexdigest()


# The intake's one statement, for one report or a batch: the reports as parallel arrays, each
# point built once, their local policing areas already found in memory (geo.areas). ON
# CONFLICT makes a replayed or racing id a no-op that RETURNING leaves out.
INSERT_SQL = """
    INSERT INTO reports_report (
        id, location, location_projected, area_id, reasons, feeling, severity, felt_at,
        received_at, description, description_redacted, text_state, app_version, source,
        body_digest, receipt_hash
    )
    SELECT r.id, p.point, ST_Transform(p.point, %(srid)s), r.area_id,
           string_to_array(r.reasons, ','), r.feeling, r.severity, r.felt_at,
           %(received_at)s, r.description, r.redacted, r.text_state, r.app_version, 'app',
           r.digest, r.receipt_hash
    FROM unnest(
        %(ids)s::uuid[], %(lons)s::float8[], %(lats)s::float8[], %(area_ids)s::bigint[],
        %(reasons)s::text[], %(feelings)s::text[], %(severities)s::smallint[],
        %(felt_ats)s::timestamptz[], %(descriptions)s::text[], %(redacted)s::text[],
        %(text_states)s::text[], %(app_versions)s::text[], %(digests)s::text[],
        %(receipt_hashes)s::text[]
    ) AS r(id, lon, lat, area_id, reasons, feeling, severity, felt_at, description, redacted,
           text_state, app_version, digest, receipt_hash),
    LATERAL (SELECT ST_SetSRID(ST_MakePoint(r.lon, r.lat), 4326)) AS p(point)
    ON CONFLICT (id) DO NOTHING
    RETURNING id::text
"""


# INSERT_SQL is prepared once per database connection: planning it costs the database a
# good part of running it for one report. Session-level prepared statements need a direct
# connection (or a pooler in session mode), as Django's persistent connections are.
_PARAMETERS = (
    ("ids", "uuid[]"), ("lons", "float8[]"), ("lats", "float8[]"), ("area_ids", "bigint[]"),
    ("reasons", "text[]"), ("feelings", "text[]"), ("severities", "smallint[]"),
    ("felt_ats", "timestamptz[]"), ("descriptions", "text[]"), ("redacted", "text[]"),
    ("text_states", "text[]"), ("app_versions", "text[]"), ("digests", "text[]"),
    ("receipt_hashes", "text[]"), ("srid", "integer"), ("received_at", "timestamptz"),
)  # fmt: skip
_POSITIONS = {name: index for index, (name, _) in enumerate(_PARAMETERS, start=1)}
_PREPARE_SQL = "PREPARE streetsafe_insert({}) AS {}".format(
    ", ".join(sql_type for _, sql_type in _PARAMETERS),
    re.sub(r"%\((\w+)\)s", lambda m: f"${_POSITIONS[m.group(1)]}", INSERT_SQL),
)
_EXECUTE_SQL = "EXECUTE streetsafe_insert({})".format(
    ", ".join(f"%({name})s::{sql_type}" for name, sql_type in _PARAMETERS)
)

# Django pings the database (SELECT 1, CONN_HEALTH_CHECKS) before the first query of every
# request, to notice a connection the server dropped while it sat idle. Under a stream of
# reports that ping is a tenth of each one's database work, so a connection that answered
# the intake within this many seconds is taken as alive. Should the database go away inside
# that second, the statement fails, the app gets the usual 503 with Retry-After, and Django
# drops the broken connection at the end of the request, so the retry gets a new one.
HEALTH_CHECK_AFTER_SECONDS = 1.0


@receiver(connection_created)
def _forget_prepared(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    connection.streetsafe_prepared = False  # type: ignore[attr-defined]


def insert_params(
    reports: list[ReportInput],
    receipts: dict[str, str],
    area_ids: list[int | None],
    *,
    now: datetime,
) -> dict[str, Any]:
    """INSERT_SQL's parameters for these reports (distinct ids) and their areas.

    Each column goes as one array literal, written here: psycopg2 adapts a Python list
    element by element, which took a fifth of a batch's server time.
    """
    return {
        "srid": settings.ANALYSIS_SRID,
        # Truncated to the hour so that it cannot be matched against an access log. As
        # text: psycopg2 adapts a datetime several times slower than a string.
        "received_at": now.replace(minute=0, second=0, microsecond=0).isoformat(),
        "ids": _array([r.key for r in reports]),
        "lons": _array([repr(r.longitude) for r in reports]),
        "lats": _array([repr(r.latitude) for r in reports]),
        "area_ids": _array([None if i is None else str(i) for i in area_ids]),
        "reasons": _array([",".join(r.reasons) for r in reports], quote=True),
        "feelings": _array([r.feeling for r in reports]),
        "severities": _array([None if r.severity is None else str(r.severity) for r in reports]),
        "felt_ats": _array([r.felt_at.isoformat() if r.felt_at else None for r in reports]),
        "descriptions": _array([r.description for r in reports], quote=True),
        "redacted": _array(
            [redact(r.description) if r.description else "" for r in reports], quote=True
        ),
        "text_states": _array(["pending" if r.description else "none" for r in reports]),
        "app_versions": _array([r.app_version for r in reports], quote=True),
        "digests": _array([r.digest for r in reports]),
        "receipt_hashes": _array([receipt_hash(receipts[r.key]) for r in reports]),
    }


def _array(values: list[str | None], *, quote: bool = False) -> str:
    """A PostgreSQL array literal. ``quote`` for free text: each element in double quotes,
    with its backslashes and double quotes escaped; otherwise the values are known to need
    no quoting (numbers, UUIDs, hex digests, ISO dates, fixed codes)."""
    if quote:
        values = [
            None if v is None else '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
            for v in values
        ]
    return "{" + ",".join("NULL" if v is None else v for v in values) + "}"


def report_submit_batch(
    *, items: list[ReportInput | InvalidReport], areas_version: str | None = None
) -> list[SubmitResult]:
    """Stores each valid report once; one result per item, in order.

    ``areas_version`` is the areas' version from Redis (reports.throttles), which lets the
    reports be located in memory (geo.areas.area_locator); without it they are located by
    one query. Then one INSERT however many items, and one more query only for ids that
    were already stored (a replay, a conflict or a race), to compare their bodies.
    """
    # The first body seen for each id decides; a later one in the same batch is compared to it.
    first: dict[str, ReportInput] = {}
    for item in items:
        if isinstance(item, ReportInput):
            first.setdefault(item.key, item)
    reports = list(first.values())
    locator = area_locator(version=areas_version) if reports else None
    if locator is not None:
        where = {r.key: locator.locate(r.longitude, r.latitude) for r in reports}
    else:
        found = locate_points([(r.longitude, r.latitude) for r in reports])
        where = {r.key: location for r, location in zip(reports, found, strict=True)}
    inside = [r for r in reports if where[r.key].in_service_area]
    receipts = {r.key: receipt_for(r.key, r.digest) for r in inside}
    inserted = _insert(inside, receipts, [where[r.key].area_id for r in inside])
    stored = _stored_digests([r.key for r in inside if r.key not in inserted])

    outside: dict[str, list[str]] | None = None
    conflict = {"id": ["A different report was already sent with this id."]}
    created: set[str] = set()
    results: list[SubmitResult] = []
    for item in items:
        if isinstance(item, InvalidReport):
            results.append(SubmitResult("invalid", errors=item.errors))
            continue
        key = item.key
        location = where[key]
        known_digest = first[key].digest if key in inserted else stored.get(key)
        if item.digest != first[key].digest or (
            location.in_service_area and known_digest != item.digest
        ):
            results.append(SubmitResult("conflict", id=key, errors=conflict))
            continue
        if not location.in_service_area:
            name = locator.service_area_name if locator is not None else service_area_name()
            outside = outside or {"location": [f"This point is outside the service area ({name})."]}
            results.append(SubmitResult("invalid", id=key, errors=outside))
            continue
        outcome: Outcome = "created" if key in inserted and key not in created else "duplicate"
        created.add(key)
        results.append(
            SubmitResult(
                outcome,
                id=key,
                receipt=receipts[key],
                area_code=location.area_code,
                area_name=location.area_name,
                reasons=item.reasons,
            )
        )
    return results


def report_submit(*, report: ReportInput, areas_version: str | None = None) -> SubmitResult:
    """Stores one report, or recognises a replay of one already stored."""
    return report_submit_batch(items=[report], areas_version=areas_version)[0]


def _insert(
    reports: list[ReportInput], receipts: dict[str, str], area_ids: list[int | None]
) -> set[str]:
    """Stores the reports whose ids are new; returns those ids (as text)."""
    if not reports:
        return set()
    params = insert_params(reports, receipts, area_ids, now=timezone.now())
    db = connections[DEFAULT_DB_ALIAS]  # not the proxy: each look through it costs a lookup
    used_at = getattr(db, "streetsafe_used_at", None)
    if used_at is not None and time.monotonic() - used_at < HEALTH_CHECK_AFTER_SECONDS:
        db.health_check_done = True  # type: ignore[attr-defined]  # not in django-stubs
    with db.cursor() as cursor:
        if not getattr(db, "streetsafe_prepared", False):
            cursor.execute(_PREPARE_SQL)
            db.streetsafe_prepared = True  # type: ignore[attr-defined]
        cursor.execute(_EXECUTE_SQL, params)
        inserted = {row[0] for row in cursor.fetchall()}
    db.streetsafe_used_at = time.monotonic()  # type: ignore[attr-defined]
    return inserted


def _stored_digests(report_ids: list[str]) -> dict[str, str]:
    """The bodies' digests already stored under these ids (the statement after the INSERT
    sees a row that a racing request committed while the INSERT waited for it)."""
    if not report_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id::text, body_digest FROM reports_report WHERE id = ANY(%s::uuid[])",
            [report_ids],
        )
        return dict(cursor.fetchall())


def report_erase(*, report_id: uuid.UUID, receipt: str) -> bool:
    """Deletes the report if the receipt is its own. False for a wrong receipt or unknown id,
    which callers must not tell apart."""
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM reports_report WHERE id = %s AND receipt_hash = %s",
            [str(report_id), receipt_hash(receipt)],
        )
        erased = cursor.rowcount == 1
    return erased


def reports_purge_expired(*, now: datetime | None = None) -> int:
    """Removes free text older than RETENTION_DAYS; the report, its reasons and counts stay.

    A purged report has no text left to moderate or to show, so its text state becomes
    "none" too: it leaves the moderation queue, and planners never see an "approved" blank.
    Its ModerationDecision rows stay as the record of who decided what. Idempotent.
    """
    cutoff = (now or timezone.now()) - timedelta(days=settings.RETENTION_DAYS)
    return (
        Report.objects.filter(received_at__lt=cutoff)
        .filter(
            ~Q(description="") | ~Q(description_redacted="") | ~Q(text_state=Report.TextState.NONE)
        )
        .update(description="", description_redacted="", text_state=Report.TextState.NONE)
    )


def report_moderate(*, report_ids: list[uuid.UUID], moderator: User, decision: str) -> int:
    """Approves or rejects the free text of these reports; returns how many changed.

    Any report that still has text may be decided, not only pending ones: a moderator may
    change their mind, and each change is recorded. Reports without text (none sent, or
    purged) and reports already in the requested state are left alone and record nothing,
    so repeating a decision is harmless. Rows are locked while deciding so that two
    moderators acting at once record one decision each way, never two for one change.
    """
    if decision not in ModerationDecision.Decision.values:
        raise ValueError(f"Unknown moderation decision: {decision!r}")
    with transaction.atomic():
        changed = list(
            Report.objects.select_for_update()
            .filter(id__in=report_ids)
            .exclude(text_state__in=[Report.TextState.NONE, decision])
            # A fixed lock order, so that two overlapping selections cannot deadlock.
            .order_by("id")
            .values_list("id", flat=True)
        )
        if not changed:
            return 0
        Report.objects.filter(id__in=changed).update(text_state=decision)
        ModerationDecision.objects.bulk_create(
            ModerationDecision(report_id=report_id, moderator=moderator, decision=decision)
            for report_id in changed
        )
    return len(changed)
