import uuid
from functools import reduce
from operator import add

from django.conf import settings
from django.contrib.gis.db import models
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db.models import Case, Q, Value, When
from django.db.models.expressions import RawSQL

from reports.reasons import REASON_CODES

# The time bands are those of the service's own country: a fixed choice, not a setting,
# because the database keeps each report's band.
LOCAL_TIME_ZONE = "Europe/London"


class Report(models.Model):
    """One anonymous report of how a place felt.

    It holds no account, IP address, user agent or device identifier, by design: there is
    no column for them. ``id`` is made by the app and doubles as the idempotency key.
    """

    class Feeling(models.TextChoices):
        UNSAFE = "unsafe", "Unsafe"
        SAFE = "safe", "Safe"

    class Severity(models.IntegerChoices):
        UNEASY = 1, "Uneasy"
        UNSAFE = 2, "Unsafe"
        VERY_UNSAFE = 3, "Very unsafe"

    class TextState(models.TextChoices):
        NONE = "none", "No text"
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    location = models.PointField(srid=4326)
    # The same point in the metric analysis SRID, set at intake so that analysis never
    # transforms a million rows per query.
    location_projected = models.PointField(srid=settings.ANALYSIS_SRID)
    # The local policing area the point fell in when it was reported.
    area = models.ForeignKey(
        "geo.Area", null=True, blank=True, on_delete=models.SET_NULL, related_name="reports"
    )
    reasons = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    # The reasons as bits, 1 << (position in REASON_CODES), kept by the database so that a
    # hotspot rebuild counts reasons with integer arithmetic instead of array searches.
    reason_bits = models.GeneratedField(
        expression=reduce(
            add,
            [
                Case(When(reasons__contains=[code], then=Value(1 << bit)), default=Value(0))
                for bit, code in enumerate(REASON_CODES)
            ],
        ),
        output_field=models.IntegerField(),
        db_persist=True,
    )
    feeling = models.CharField(max_length=8, choices=Feeling.choices, default=Feeling.UNSAFE)
    severity = models.PositiveSmallIntegerField(choices=Severity.choices, null=True, blank=True)
    felt_at = models.DateTimeField(null=True, blank=True)
    # When it was felt in the service's local time, kept by the database so that analysis
    # never converts a million timestamps: the time band (0 day 07-19, 1 evening 19-23,
    # 2 night 23-07, 3 unknown) and the month (year * 12 + month - 1, of felt_at or, when
    # that is unknown, received_at).
    felt_band = models.GeneratedField(
        # A constant zone, not user input.
        expression=RawSQL(  # noqa: S611
            "CASE WHEN felt_at IS NULL THEN 3"
            f" WHEN date_part('hour', felt_at AT TIME ZONE '{LOCAL_TIME_ZONE}') >= 23"
            f" OR date_part('hour', felt_at AT TIME ZONE '{LOCAL_TIME_ZONE}') < 7 THEN 2"
            f" WHEN date_part('hour', felt_at AT TIME ZONE '{LOCAL_TIME_ZONE}') >= 19 THEN 1"
            " ELSE 0 END",
            [],
        ),
        output_field=models.SmallIntegerField(),
        db_persist=True,
    )
    felt_month = models.GeneratedField(
        expression=RawSQL(  # noqa: S611
            "(date_part('year', coalesce(felt_at, received_at)"
            f" AT TIME ZONE '{LOCAL_TIME_ZONE}') * 12"
            " + date_part('month', coalesce(felt_at, received_at)"
            f" AT TIME ZONE '{LOCAL_TIME_ZONE}') - 1)::int",
            [],
        ),
        output_field=models.IntegerField(),
        db_persist=True,
    )
    # Truncated to the hour so that it cannot be matched against an access log.
    received_at = models.DateTimeField(db_index=True)
    description = models.TextField(blank=True)
    description_redacted = models.TextField(blank=True)
    text_state = models.CharField(max_length=10, choices=TextState.choices, default=TextState.NONE)
    app_version = models.CharField(max_length=32, blank=True)
    source = models.CharField(max_length=16, default="app")
    # Street text from the source where it has one (police.uk "On or near ..."); places are
    # labelled with the most common. The app sends none.
    street = models.CharField(max_length=120, blank=True, db_default="")
    # sha256 of the canonical request body: a replay with another body is a conflict.
    body_digest = models.CharField(max_length=64)
    # sha256 of the receipt secret; the secret itself is never stored.
    receipt_hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            # Planner filters "reports with any of these reasons".
            GinIndex(fields=["reasons"], name="report_reasons_gin"),
            # The moderation queue; a partial index costs intake nothing for reports
            # without text.
            models.Index(
                fields=["received_at"],
                condition=Q(text_state="pending"),
                name="report_pending_text_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(severity__isnull=True) | Q(severity__gte=1, severity__lte=3),
                name="report_severity_1_to_3",
            ),
            models.CheckConstraint(
                condition=Q(feeling="safe") | Q(reasons__len__gt=0),
                name="report_unsafe_has_reasons",
            ),
            models.CheckConstraint(
                condition=Q(reasons__contained_by=list(REASON_CODES)),
                name="report_reasons_known",
            ),
            models.CheckConstraint(
                condition=~Q(text_state="none") | Q(description=""),
                name="report_no_text_state_has_no_text",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_feeling_display()} report {self.id}"


class ModerationDecision(models.Model):
    """Who approved or rejected a report's free text, and when."""

    class Decision(models.TextChoices):
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="decisions")
    moderator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="moderation_decisions"
    )
    decision = models.CharField(max_length=10, choices=Decision.choices)
    decided_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-decided_at"]

    def __str__(self) -> str:
        return f"{self.decision} by {self.moderator} at {self.decided_at:%Y-%m-%d %H:%M}"
