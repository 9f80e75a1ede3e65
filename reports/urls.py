from django.urls import path

from reports.apis import (
    ConfigApi,
    ReportBatchApi,
    ReportCollectionApi,
    ReportEraseApi,
    intake_fast_path,
    submit_batch,
    submit_one,
)

urlpatterns = [
    path("config", ConfigApi.as_view(), name="config"),
    path("reports", intake_fast_path(ReportCollectionApi.as_view(), submit_one), name="reports"),
    path(
        "reports/batch",
        intake_fast_path(ReportBatchApi.as_view(), submit_batch),
        name="reports-batch",
    ),
    path("reports/<str:report_id>", ReportEraseApi.as_view(), name="reports-erase"),
]
