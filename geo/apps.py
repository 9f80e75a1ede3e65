from django.apps import AppConfig


class GeoConfig(AppConfig):
    name = "geo"
    verbose_name = "Places and boundaries"
    default_auto_field = "django.db.models.BigAutoField"
