"""The moderators' admin: read reports, approve or reject their free text, nothing else.

Reports come only from the API and nobody edits one here: every page is read-only, and
the only write is a moderation decision taken through an action (``report_moderate``).
Deciding needs the "change report" permission, which the moderators group has.
"""

from typing import Any

from django.contrib import admin, messages
from django.contrib.gis.forms import OSMWidget
from django.db.models import QuerySet
from django.forms import Media
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from reports.models import ModerationDecision, Report
from reports.reasons import REASONS, REASONS_BY_CODE
from reports.services import report_moderate
from streetsafe.admin import ReadOnlyAdminMixin


class TextStateFilter(admin.SimpleListFilter):
    """Text state, showing the moderation queue (pending text) unless asked otherwise."""

    title = "text state"
    parameter_name = "text_state"
    default = Report.TextState.PENDING
    everything = "all"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(Report.TextState.choices)

    def value(self) -> str:
        return super().value() or self.default

    def choices(self, changelist: Any) -> Any:
        yield {
            "selected": self.value() == self.everything,
            "query_string": changelist.get_query_string({self.parameter_name: self.everything}),
            "display": "All",
        }
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet[Report]) -> QuerySet[Report]:
        if self.value() in Report.TextState.values:
            return queryset.filter(text_state=self.value())
        return queryset


class ReasonFilter(admin.SimpleListFilter):
    """Reports whose reasons include this one (``reasons @> ARRAY[code]``, the GIN index)."""

    title = "reason"
    parameter_name = "reason"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(reason.code, reason.label) for reason in REASONS]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Report]) -> QuerySet[Report]:
        if self.value() in REASONS_BY_CODE:
            return queryset.filter(reasons__contains=[self.value()])
        return queryset


class ModerationDecisionInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ModerationDecision
    fields = ("decision", "moderator", "decided_at")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    list_display = (
        "received_at",
        "text_state",
        "description_redacted",
        "description",
        "reasons_list",
        "feeling",
        "area",
    )
    list_display_links = ("received_at",)
    list_filter = (
        TextStateFilter,
        ("area", admin.RelatedOnlyFieldListFilter),
        ReasonFilter,
        "feeling",
    )
    list_select_related = ("area",)
    date_hierarchy = "received_at"
    actions = ("approve_text", "reject_text")
    fields = (
        "id",
        "received_at",
        "text_state",
        "description",
        "description_redacted",
        "reasons_list",
        "feeling",
        "severity",
        "felt_at",
        "area",
        "location_map",
        "source",
        "app_version",
    )
    readonly_fields = fields
    inlines = (ModerationDecisionInline,)

    # No one adds or edits a report here: they come from the API, and the projected point
    # and the area are derived from the location at intake.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser

    def has_moderate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("reports.change_report")

    @admin.action(description="Approve the text of the selected reports", permissions=["moderate"])
    def approve_text(self, request: HttpRequest, queryset: QuerySet[Report]) -> None:
        self._moderate(request, queryset, ModerationDecision.Decision.APPROVED)

    @admin.action(description="Reject the text of the selected reports", permissions=["moderate"])
    def reject_text(self, request: HttpRequest, queryset: QuerySet[Report]) -> None:
        self._moderate(request, queryset, ModerationDecision.Decision.REJECTED)

    def _moderate(self, request: HttpRequest, queryset: QuerySet[Report], decision: str) -> None:
        selected = list(queryset.values_list("id", flat=True))
        changed = report_moderate(
            report_ids=selected,
            moderator=request.user,  # type: ignore[arg-type]  # the admin requires a login
            decision=decision,
        )
        message = f"{changed} of {len(selected)} selected reports {decision}."
        if changed < len(selected):
            message += " The others had no text, or were already " + decision + "."
        self.message_user(request, message, messages.SUCCESS if changed else messages.WARNING)

    @admin.display(description="reasons")
    def reasons_list(self, report: Report) -> str:
        return ", ".join(
            REASONS_BY_CODE[code].label if code in REASONS_BY_CODE else code
            for code in report.reasons
        )

    @admin.display(description="map")
    def location_map(self, report: Report) -> SafeString:
        # The GIS widget, shown but not editable: a read-only page has no form field to put
        # it in, and the widget's own script makes every map editable, so the drawing tools
        # are taken off again once it has been built.
        widget = OSMWidget(
            attrs={"id": "report_map", "geom_type": "POINT", "disabled": True, "default_zoom": 16}
        )
        return format_html(
            "{}<script>for (const i of Object.values(geodjango_report_map.interactions))"
            " {{ if (i) geodjango_report_map.map.removeInteraction(i); }}</script>",
            widget.render("report_map", report.location),
        )

    @property
    def media(self) -> Media:
        return super().media + OSMWidget().media


@admin.register(ModerationDecision)
class ModerationDecisionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("decided_at", "decision", "moderator", "report")
    list_filter = ("decision", "moderator")
    list_select_related = ("moderator", "report")
    date_hierarchy = "decided_at"
    fields = ("report", "decision", "moderator", "decided_at")
    readonly_fields = fields
