"""Intervention API routes, under /api/v1/."""

from django.urls import URLPattern, path

from geo import intervention_apis

urlpatterns: list[URLPattern] = [
    path(
        "interventions",
        intervention_apis.InterventionListCreateApi.as_view(),
        name="interventions-list",
    ),
    path(
        "interventions/<int:intervention_id>",
        intervention_apis.InterventionDetailApi.as_view(),
        name="interventions-detail",
    ),
    path(
        "interventions/<int:intervention_id>/evaluation",
        intervention_apis.InterventionEvaluationApi.as_view(),
        name="interventions-evaluation",
    ),
    path(
        "public/actions",
        intervention_apis.PublicActionListApi.as_view(),
        name="public-actions",
    ),
]
