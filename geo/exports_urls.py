"""Filled in by its own piece of work."""

urlpatterns: list = []
