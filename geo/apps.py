from django.apps import AppConfig


class GeoConfig(AppConfig):
    name = "geo"
    verbose_name = "Places and boundaries"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Cached planner scopes go stale when areas or what organisations cover change.
        # So do tiles and answers cached under the assets version when assets change.
        # And the OpenAPI schema documents hexagon features.
        from geo import access, assets, schema  # noqa: F401
