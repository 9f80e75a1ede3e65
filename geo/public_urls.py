"""Public pages outside the API (the "you said, we did" page)."""

from django.urls import URLPattern, path

from geo import public_views

urlpatterns: list[URLPattern] = [
    path("actions/", public_views.actions_page, name="public-actions-page"),
]
