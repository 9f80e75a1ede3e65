"""Street lights and cameras in the admin, for operators correcting a few by hand.

They are loaded in bulk with ``manage.py import_assets``. An edit is saved through
``geo.assets.asset_save``, which keeps the projected point in step with the location (the
map widget), so coverage never measures from where an asset used to be.
"""

from typing import Any

from django.contrib import admin
from django.contrib.gis.admin import GISModelAdmin
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from geo.assets import asset_save
from geo.models import Asset, Camera, Streetlight


class AssetAdmin(GISModelAdmin):
    search_fields = ("external_id", "label")
    list_select_related = ("organisation",)
    readonly_fields = ("updated_at",)
    gis_widget_kwargs = {"attrs": {"default_zoom": 17}}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        # Never shown: it follows the location.
        return super().get_queryset(request).defer("location_projected")

    def save_model(self, request: HttpRequest, obj: Asset, form: ModelForm, change: bool) -> None:
        asset_save(asset=obj)


@admin.register(Streetlight)
class StreetlightAdmin(AssetAdmin):
    list_display = ("external_id", "label", "lamp_type", "wattage", "working", "organisation")
    list_filter = ("working", "organisation", "lamp_type")
    fields = (
        "external_id",
        "organisation",
        "label",
        "lamp_type",
        "wattage",
        "working",
        "location",
        "updated_at",
    )


@admin.register(Camera)
class CameraAdmin(AssetAdmin):
    list_display = ("external_id", "label", "kind", "range_m", "working", "organisation")
    list_filter = ("working", "kind", "organisation")
    fields = (
        "external_id",
        "organisation",
        "label",
        "kind",
        "range_m",
        "working",
        "location",
        "updated_at",
    )
