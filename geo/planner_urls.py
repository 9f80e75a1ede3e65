"""The planner map, at /planner/."""

from django.urls import path

from geo import planner

urlpatterns = [
    path("", planner.planner_map, name="planner"),
]
