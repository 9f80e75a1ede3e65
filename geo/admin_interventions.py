"""Interventions in the admin: for operators fixing a record, or entering one for an
organisation whose planners have no account yet.

The same rules as the API (``geo.interventions.intervention_clean``): a point or the
street light or camera it was done to, a kind that goes with the asset, a likely date, a
radius and cost in range. Saving keeps the projected point and the local policing area in
step with the location, so the evaluation and the public list never read a stale one.
Unlike a planner, the admin may place an intervention in any local policing area.
"""

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.gis.admin import GISModelAdmin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from geo.interventions import intervention_clean
from geo.models import Area, Intervention


class InterventionAdminForm(forms.ModelForm):
    class Meta:
        model = Intervention
        fields = (
            "organisation",
            "kind",
            "date",
            "location",
            "streetlight",
            "camera",
            "radius_m",
            "cost",
            "note",
        )
        help_texts = {
            "location": "Where it was done; leave it empty when a street light or camera is "
            "chosen, whose position is then used.",
            "radius_m": "Reports within this many metres count as its own; empty for the "
            "default (INTERVENTION_RADIUS_M).",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["location"].required = False
        self.fields["radius_m"].required = False
        # The placement ``intervention_clean`` worked out: set on the instance when saved.
        self.placed: dict[str, Any] = {}

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        current = self.instance if self.instance.pk is not None else None
        names = self.changed_data if current is not None else list(self.fields)
        values: dict[str, Any] = {}
        for name in names:
            if name == "organisation":
                continue
            value = data.get(name)
            if name == "location":
                if (
                    value is None
                    and current is None
                    and (data.get("streetlight") or data.get("camera"))
                ):
                    continue  # placed at the asset
                value = None if value is None else (value.x, value.y)
            elif name in ("streetlight", "camera"):
                if value is None and current is None:
                    continue
                value = None if value is None else value.pk
            elif name == "note":
                value = value or ""
            values[name] = value
        try:
            self.placed = intervention_clean(values=values, area_ids=None, current=current)
        except ValidationError as error:
            self.add_error(None, error)
            return data
        for name in ("location", "radius_m"):
            if name in self.placed:
                data[name] = self.placed[name]
        return data


class LocalPolicingAreaFilter(admin.SimpleListFilter):
    """By local policing area, listed by name: the default filter would read every
    boundary (megabytes each) to print its name."""

    title = "local policing area"
    parameter_name = "area"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[Any, str]]:
        return list(
            Area.objects.filter(kind=Area.Kind.LOCAL_POLICING_AREA)
            .order_by("name")
            .values_list("pk", "name")
        )

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value is None:
            return queryset
        return queryset.filter(area_id=value) if value.isdigit() else queryset.none()


@admin.register(Intervention)
class InterventionAdmin(GISModelAdmin):
    form = InterventionAdminForm
    list_display = ("id", "kind", "date", "organisation", "area_name", "radius_m", "cost")
    list_filter = ("kind", "organisation", LocalPolicingAreaFilter)
    search_fields = ("note", "organisation__name")
    date_hierarchy = "date"
    # Tens of thousands of lights: a drop-down of them would be megabytes.
    raw_id_fields = ("streetlight", "camera")
    readonly_fields = ("area_name", "created_by", "created_at", "updated_at")
    gis_widget_kwargs = {"attrs": {"default_zoom": 14}}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Intervention]:
        return (
            super()
            .get_queryset(request)
            .select_related("organisation", "area", "created_by")
            .defer("area__geom")
        )

    @admin.display(description="local policing area", ordering="area__name")
    def area_name(self, intervention: Intervention) -> str:
        return intervention.area.name if intervention.area_id and intervention.area else "-"

    def save_model(
        self, request: HttpRequest, obj: Intervention, form: forms.ModelForm, change: bool
    ) -> None:
        assert isinstance(form, InterventionAdminForm)
        for name, value in form.placed.items():
            setattr(obj, name, value)
        if not change and request.user.is_authenticated:
            obj.created_by = request.user
        obj.save()
