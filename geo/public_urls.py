"""Public pages outside the API (the "you said, we did" page)."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
