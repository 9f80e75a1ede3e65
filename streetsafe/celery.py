import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "streetsafe.settings")

app = Celery("streetsafe")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
