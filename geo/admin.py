"""Boundaries, read-only: they are loaded by management commands, never edited by hand."""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from geo.models import Area
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
