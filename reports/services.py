"""Writes to reports: intake, erasure, moderation and retention."""

import base64
import functools
import hashlib
import hmac
import re
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.db.models import Q
from django.dispatch import receiver
from django.utils import timezone

from geo.areas import service_area_name
from reports.intake import InvalidReport, ReportInput
from reports.models import ModerationDecision, Report
from reports.redaction import redact

Outcome = Literal["created", "duplicate", "conflict", "invalid"]


@dataclass(frozen=True)
class SubmitResult:
    outcome: Outcome
    id: uuid.UUID | None = None
    receipt: str | None = None
    area_code: str | None = None
    area_name: str | None = None
    reasons: tuple[str, ...] = ()
    errors: dict[str, list[str]] | None = None


@functools.cache
def _receipt_key(secret_key: str) -> bytes:
    return hashlib.sha256(f"streetsafe-receipt:{secret_key}".encode()).digest()


def receipt_for(report_id: uuid.UUID, digest: str) -> str:
    """The receipt secret for a report: derived, so a replay gets the same one back.

    Only its hash is stored. It can be derived again only with the server's key and the
    exact body the app sent, which includes the app-made id nobody else sees.
    """
    mac = hmac.digest(_receipt_key(settings.SECRET_KEY), f"{report_id}:{digest}".encode(), "sha256")
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def receipt_hash(receipt: str) -> str:
    return hashlib.sha256(receipt.encode()).hexdigest()


# The whole of intake's database work, for one report or a batch, in one statement:
# - input: the reports as parallel arrays, each point built once;
# - located: whether each point is in the service area and its local policing area, the
#   same indexed lookup as geo.areas.locate_points (GiST on geo_areapart.geom);
# - inserted: the reports inside the service area; ON CONFLICT makes a replayed or racing
#   id a no-op that RETURNING leaves out;
# - then one row per input, in order, with the digest already stored under a known id (the
#   statement's snapshot does not see its own inserts, so that is NULL for new rows).
SUBMIT_SQL = """
    WITH input AS (
        SELECT r.*, ST_SetSRID(ST_MakePoint(r.lon, r.lat), 4326) AS point
        FROM unnest(
            %(ids)s::uuid[], %(lons)s::float8[], %(lats)s::float8[], %(reasons)s::text[],
            %(feelings)s::text[], %(severities)s::smallint[], %(felt_ats)s::timestamptz[],
            %(descriptions)s::text[], %(redacted)s::text[], %(text_states)s::text[],
            %(app_versions)s::text[], %(digests)s::text[], %(receipt_hashes)s::text[]
        ) WITH ORDINALITY AS r(id, lon, lat, reasons, feeling, severity, felt_at,
                               description, redacted, text_state, app_version, digest,
                               receipt_hash, ord)
    ),
    located AS (
        SELECT i.*,
               EXISTS (
                   SELECT 1 FROM geo_areapart p
                   WHERE p.kind = 'force' AND ST_Intersects(p.geom, i.point)
               ) AS in_service_area,
               (
                   SELECT p.area_id FROM geo_areapart p
                   WHERE p.kind = 'lpa' AND ST_Intersects(p.geom, i.point)
                   LIMIT 1
               ) AS area_id
        FROM input i
    ),
    inserted AS (
        INSERT INTO reports_report (
            id, location, location_projected, area_id, reasons, feeling, severity, felt_at,
            received_at, description, description_redacted, text_state, app_version, source,
            body_digest, receipt_hash
        )
        SELECT l.id, l.point, ST_Transform(l.point, %(srid)s), l.area_id,
               string_to_array(l.reasons, ','), l.feeling, l.severity, l.felt_at,
               %(received_at)s, l.description, l.redacted, l.text_state, l.app_version,
               'app', l.digest, l.receipt_hash
        FROM located l
        WHERE l.in_service_area
        ON CONFLICT (id) DO NOTHING
        RETURNING id
    )
    SELECT l.id, l.in_service_area, a.code, a.name, ins.id IS NOT NULL, stored.body_digest
    FROM located l
    LEFT JOIN geo_area a ON a.id = l.area_id
    LEFT JOIN inserted ins ON ins.id = l.id
    LEFT JOIN reports_report stored ON stored.id = l.id
    ORDER BY l.ord
"""


# SUBMIT_SQL is prepared once per database connection: planning it costs the database
# about as much as running it for one report. Session-level prepared statements need a
# direct connection (or a pooler in session mode), as Django's persistent connections are.
_PARAMETERS = (
    ("ids", "uuid[]"), ("lons", "float8[]"), ("lats", "float8[]"), ("reasons", "text[]"),
    ("feelings", "text[]"), ("severities", "smallint[]"), ("felt_ats", "timestamptz[]"),
    ("descriptions", "text[]"), ("redacted", "text[]"), ("text_states", "text[]"),
    ("app_versions", "text[]"), ("digests", "text[]"), ("receipt_hashes", "text[]"),
    ("srid", "integer"), ("received_at", "timestamptz"),
)  # fmt: skip
_POSITIONS = {name: index for index, (name, _) in enumerate(_PARAMETERS, start=1)}
_PREPARE_SQL = "PREPARE streetsafe_submit({}) AS {}".format(
    ", ".join(sql_type for _, sql_type in _PARAMETERS),
    re.sub(r"%\((\w+)\)s", lambda m: f"${_POSITIONS[m.group(1)]}", SUBMIT_SQL),
)
_EXECUTE_SQL = "EXECUTE streetsafe_submit({})".format(
    ", ".join(f"%({name})s::{sql_type}" for name, sql_type in _PARAMETERS)
)


@receiver(connection_created)
def _forget_prepared(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    connection.streetsafe_prepared = False  # type: ignore[attr-defined]


@dataclass(frozen=True)
class _Stored:
    in_service_area: bool
    area_code: str | None
    area_name: str | None
    inserted: bool
    digest: str | None


def submit_params(
    reports: list[ReportInput], receipts: dict[uuid.UUID, str], *, now: datetime
) -> dict[str, Any]:
    """SUBMIT_SQL's parameters for these reports (distinct ids)."""
    return {
        "srid": settings.ANALYSIS_SRID,
        # Truncated to the hour so that it cannot be matched against an access log.
        "received_at": now.replace(minute=0, second=0, microsecond=0),
        "ids": [str(r.id) for r in reports],
        "lons": [r.longitude for r in reports],
        "lats": [r.latitude for r in reports],
        "reasons": [",".join(r.reasons) for r in reports],
        "feelings": [r.feeling for r in reports],
        "severities": [r.severity for r in reports],
        "felt_ats": [r.felt_at for r in reports],
        "descriptions": [r.description for r in reports],
        "redacted": [redact(r.description) if r.description else "" for r in reports],
        "text_states": ["pending" if r.description else "none" for r in reports],
        "app_versions": [r.app_version for r in reports],
        "digests": [r.digest for r in reports],
        "receipt_hashes": [receipt_hash(receipts[r.id]) for r in reports],
    }


def report_submit_batch(*, items: list[ReportInput | InvalidReport]) -> list[SubmitResult]:
    """Stores each valid report once; one result per item, in order.

    One statement however many items (SUBMIT_SQL), and a second only when another request
    stored the same id while this one ran.
    """
    # The first body seen for each id decides; a later one in the same batch is compared to it.
    first: dict[uuid.UUID, ReportInput] = {}
    for item in items:
        if isinstance(item, ReportInput):
            first.setdefault(item.id, item)
    receipts = {r.id: receipt_for(r.id, r.digest) for r in first.values()}
    stored = _submit(list(first.values()), receipts)

    outside: dict[str, list[str]] | None = None
    conflict = {"id": ["A different report was already sent with this id."]}
    created: set[uuid.UUID] = set()
    results: list[SubmitResult] = []
    for item in items:
        if isinstance(item, InvalidReport):
            results.append(SubmitResult("invalid", errors=item.errors))
            continue
        row = stored[item.id]
        known_digest = first[item.id].digest if row.inserted else row.digest
        if item.digest != first[item.id].digest or (
            row.in_service_area and known_digest != item.digest
        ):
            results.append(SubmitResult("conflict", id=item.id, errors=conflict))
            continue
        if not row.in_service_area:
            outside = outside or {
                "location": [f"This point is outside the service area ({service_area_name()})."]
            }
            results.append(SubmitResult("invalid", id=item.id, errors=outside))
            continue
        outcome: Outcome = "created" if row.inserted and item.id not in created else "duplicate"
        created.add(item.id)
        results.append(
            SubmitResult(
                outcome,
                id=item.id,
                receipt=receipts[item.id],
                area_code=row.area_code,
                area_name=row.area_name,
                reasons=item.reasons,
            )
        )
    return results


def report_submit(*, report: ReportInput) -> SubmitResult:
    """Stores one report, or recognises a replay of one already stored."""
    return report_submit_batch(items=[report])[0]


def _submit(reports: list[ReportInput], receipts: dict[uuid.UUID, str]) -> dict[uuid.UUID, _Stored]:
    if not reports:
        return {}
    with connection.cursor() as cursor:
        if not getattr(connection, "streetsafe_prepared", False):
            cursor.execute(_PREPARE_SQL)
            connection.streetsafe_prepared = True  # type: ignore[attr-defined]
        cursor.execute(_EXECUTE_SQL, submit_params(reports, receipts, now=timezone.now()))
        rows = cursor.fetchall()
    stored = {
        report_id: _Stored(in_area, code, name, inserted, digest)
        for report_id, in_area, code, name, inserted, digest in rows
    }
    # Stored by a request that committed while this statement ran: its digest was not in
    # this statement's snapshot.
    raced = [
        i
        for i, row in stored.items()
        if row.in_service_area and not row.inserted and not row.digest
    ]
    if raced:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, body_digest FROM reports_report WHERE id = ANY(%s::uuid[])",
                [[str(i) for i in raced]],
            )
            for report_id, digest in cursor.fetchall():
                stored[report_id] = replace(stored[report_id], digest=digest)
    return stored


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
