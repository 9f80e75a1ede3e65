from django.urls import path

from reports.apis import ConfigApi, ReportBatchApi, ReportCreateApi, ReportEraseApi

urlpatterns = [
    path("config", ConfigApi.as_view(), name="config"),
    path("reports", ReportCreateApi.as_view(), name="reports-create"),
    path("reports/batch", ReportBatchApi.as_view(), name="reports-batch"),
    path("reports/<str:report_id>", ReportEraseApi.as_view(), name="reports-erase"),
]
