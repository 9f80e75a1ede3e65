"""Boundaries, read-only: they are loaded by management commands, never edited by hand."""

from typing import Any

from django.contrib import admin
from django.contrib.auth.models import User
from django.db.models import Exists, OuterRef, QuerySet
from django.db.models.fields.related import ManyToManyField
from django.forms import ModelMultipleChoiceField
from django.http import HttpRequest
from rest_framework.authtoken.models import TokenProxy

from geo.access import PLANNERS_GROUP
from geo.models import Area, Export, Organisation, PlannerProfile
from streetsafe.admin import ReadOnlyAdminMixin


@admin.register(Area)
class AreaAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("name", "code", "kind", "parent", "updated_at")
    list_filter = ("kind",)
    search_fields = ("name", "code")
    list_select_related = ("parent",)
    # The geometry is left out: a county boundary has tens of thousands of vertices.
    fields = ("name", "code", "kind", "parent", "updated_at")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Area]:
        # Nothing on these pages shows a geometry, and each can be megabytes.
        return super().get_queryset(request).defer("geom", "parent__geom")


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    """Organisations, also made with ``create_organisation``."""

    list_display = ("name", "slug", "created_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    filter_horizontal = ("areas",)

    def formfield_for_manytomany(
        self, db_field: ManyToManyField, request: HttpRequest, **kwargs: Any
    ) -> ModelMultipleChoiceField | None:
        if db_field.name == "areas":
            # The choices show names only; every boundary's geometry would be megabytes.
            kwargs["queryset"] = Area.objects.defer("geom")
        return super().formfield_for_manytomany(db_field, request, **kwargs)


@admin.register(PlannerProfile)
class PlannerProfileAdmin(admin.ModelAdmin):
    """Which organisation each planner works for, also set with ``create_planner``."""

    list_display = ("user", "organisation", "in_planners_group", "user_is_active")
    list_filter = ("organisation",)
    search_fields = ("user__username", "user__email", "organisation__name")
    list_select_related = ("user", "organisation")
    autocomplete_fields = ("user", "organisation")

    def get_queryset(self, request: HttpRequest) -> QuerySet[PlannerProfile]:
        # A profile grants nothing without the group: the list shows who lacks it.
        in_group = User.groups.through.objects.filter(
            user=OuterRef("user"), group__name=PLANNERS_GROUP
        )
        return super().get_queryset(request).annotate(in_planners_group=Exists(in_group))

    @admin.display(boolean=True, description="in planners group", ordering="in_planners_group")
    def in_planners_group(self, profile: PlannerProfile) -> bool:
        return bool(profile.in_planners_group)  # type: ignore[attr-defined]  # annotated

    @admin.display(boolean=True, description="active", ordering="user__is_active")
    def user_is_active(self, profile: PlannerProfile) -> bool:
        return profile.user.is_active


# Imported here, not above, so that this admin stays one appended block; fold it into the
# imports at the top when convenient.


@admin.register(Export)
class ExportAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The record of every planner export: who took which layer, when, and how many rows."""

    list_display = (
        "id",
        "user",
        "organisation",
        "layer",
        "format",
        "status",
        "row_count",
        "created_at",
        "finished_at",
    )
    list_filter = ("layer", "format", "status", "organisation")
    search_fields = ("user__username", "organisation__name")
    list_select_related = ("user", "organisation")
    date_hierarchy = "created_at"
    fields = (
        "user",
        "organisation",
        "layer",
        "format",
        "filters",
        "status",
        "progress",
        "row_count",
        "file",
        "file_size",
        "created_at",
        "started_at",
        "finished_at",
        "error",
    )
    readonly_fields = fields


# DRF's plaintext tokens are gone (migration geo 0008): planners' tokens are knox's, whose
# admin lists them by their first characters and lets them be revoked.
if admin.site.is_registered(TokenProxy):
    admin.site.unregister(TokenProxy)

# Street assets and interventions have their own modules; importing them registers them.
from geo import admin_assets, admin_interventions  # noqa: E402, F401
