"""Writes to reports: intake, erasure, moderation and retention."""

import base64
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from geo.areas import Location, locate_points, service_area_name
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


def receipt_for(report_id: uuid.UUID, digest: str) -> str:
    """The receipt secret for a report: derived, so a replay gets the same one back.

    Only its hash is stored. It can be derived again only with the server's key and the
    exact body the app sent, which includes the app-made id nobody else sees.
    """
    key = hashlib.sha256(f"streetsafe-receipt:{settings.SECRET_KEY}".encode()).digest()
    mac = hmac.new(key, f"{report_id}:{digest}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def receipt_hash(receipt: str) -> str:
    return hashlib.sha256(receipt.encode()).hexdigest()


# One statement for the whole batch: each row's point and its projection are built in
# PostGIS, and ON CONFLICT makes a replayed or racing id a no-op that RETURNING leaves out.
_INSERT_SQL = """
    INSERT INTO reports_report (
        id, location, location_projected, area_id, reasons, feeling, severity, felt_at,
        received_at, description, description_redacted, text_state, app_version, source,
        body_digest, receipt_hash
    )
    SELECT r.id, ST_SetSRID(ST_MakePoint(r.lon, r.lat), 4326),
           ST_Transform(ST_SetSRID(ST_MakePoint(r.lon, r.lat), 4326), %(srid)s),
           r.area_id, string_to_array(r.reasons, ','), r.feeling, r.severity, r.felt_at,
           %(received_at)s, r.description, r.redacted, r.text_state, r.app_version, 'app',
           r.digest, r.receipt_hash
    FROM unnest(
        %(ids)s::uuid[], %(lons)s::float8[], %(lats)s::float8[], %(area_ids)s::bigint[],
        %(reasons)s::text[], %(feelings)s::text[], %(severities)s::smallint[],
        %(felt_ats)s::timestamptz[], %(descriptions)s::text[], %(redacted)s::text[],
        %(text_states)s::text[], %(app_versions)s::text[], %(digests)s::text[],
        %(receipt_hashes)s::text[]
    ) AS r(id, lon, lat, area_id, reasons, feeling, severity, felt_at, description, redacted,
           text_state, app_version, digest, receipt_hash)
    ON CONFLICT (id) DO NOTHING
    RETURNING id
"""


def report_submit_batch(*, items: list[ReportInput | InvalidReport]) -> list[SubmitResult]:
    """Stores each valid report once; one result per item, in order.

    Costs three queries however many items: locate every point, insert every report inside
    the service area, and read back the digests of ids that were already stored.
    """
    valid = [item for item in items if isinstance(item, ReportInput)]
    located = dict(
        zip(
            (r.id for r in valid),
            locate_points([(r.longitude, r.latitude) for r in valid]),
            strict=True,
        )
    )
    outside: dict[str, list[str]] | None = None
    # The first body seen for each id decides; a later one in the same batch is compared to it.
    first: dict[uuid.UUID, ReportInput] = {}
    for report in valid:
        if located[report.id].in_service_area:
            first.setdefault(report.id, report)

    inserted = _insert(list(first.values()), located)
    known_digests = {r.id: r.digest for r in first.values()}
    known_digests.update(_stored_digests([i for i in first if i not in inserted]))

    results: list[SubmitResult] = []
    for item in items:
        if isinstance(item, InvalidReport):
            results.append(SubmitResult("invalid", errors=item.errors))
            continue
        location = located[item.id]
        if not location.in_service_area:
            outside = outside or {
                "location": [f"This point is outside the service area ({service_area_name()})."]
            }
            results.append(SubmitResult("invalid", id=item.id, errors=outside))
            continue
        if known_digests[item.id] != item.digest:
            results.append(
                SubmitResult(
                    "conflict",
                    id=item.id,
                    errors={"id": ["A different report was already sent with this id."]},
                )
            )
            continue
        outcome: Outcome = "created" if item.id in inserted else "duplicate"
        inserted.discard(item.id)
        results.append(
            SubmitResult(
                outcome,
                id=item.id,
                receipt=receipt_for(item.id, item.digest),
                area_code=location.area_code,
                area_name=location.area_name,
                reasons=item.reasons,
            )
        )
    return results


def report_submit(*, report: ReportInput) -> SubmitResult:
    """Stores one report, or recognises a replay of one already stored."""
    return report_submit_batch(items=[report])[0]


def _insert(reports: list[ReportInput], located: dict[uuid.UUID, Location]) -> set[uuid.UUID]:
    if not reports:
        return set()
    now = timezone.now()
    params: dict[str, Any] = {
        "srid": settings.ANALYSIS_SRID,
        # Truncated to the hour so that it cannot be matched against an access log.
        "received_at": now.replace(minute=0, second=0, microsecond=0),
        "ids": [str(r.id) for r in reports],
        "lons": [r.longitude for r in reports],
        "lats": [r.latitude for r in reports],
        "area_ids": [located[r.id].area_id for r in reports],
        "reasons": [",".join(r.reasons) for r in reports],
        "feelings": [r.feeling for r in reports],
        "severities": [r.severity for r in reports],
        "felt_ats": [r.felt_at for r in reports],
        "descriptions": [r.description for r in reports],
        "redacted": [redact(r.description) if r.description else "" for r in reports],
        "text_states": ["pending" if r.description else "none" for r in reports],
        "app_versions": [r.app_version for r in reports],
        "digests": [r.digest for r in reports],
        "receipt_hashes": [receipt_hash(receipt_for(r.id, r.digest)) for r in reports],
    }
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_SQL, params)
        return {row[0] for row in cursor.fetchall()}


def _stored_digests(ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, body_digest FROM reports_report WHERE id = ANY(%s::uuid[])",
            [[str(i) for i in ids]],
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
