"""Priority API routes, under /api/v1/."""

from django.urls import URLPattern, path

from geo import priority_apis

urlpatterns: list[URLPattern] = [
    path("priorities", priority_apis.PriorityListApi.as_view(), name="priorities"),
    path(
        "priorities/runs/<int:run_id>",
        priority_apis.PriorityRunApi.as_view(),
        name="priority-run",
    ),
    path(
        "priorities/runs/<int:run_id>/result",
        priority_apis.PriorityRunResultApi.as_view(),
        name="priority-run-result",
    ),
]
