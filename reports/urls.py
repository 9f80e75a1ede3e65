from django.urls import path

from reports.apis import ConfigApi, ReportBatchApi, ReportCollectionApi, ReportEraseApi

urlpatterns = [
    path("config", ConfigApi.as_view(), name="config"),
    path("reports", ReportCollectionApi.as_view(), name="reports"),
    path("reports/batch", ReportBatchApi.as_view(), name="reports-batch"),
    path("reports/<str:report_id>", ReportEraseApi.as_view(), name="reports-erase"),
]
