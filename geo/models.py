from django.contrib.gis.db import models


class Area(models.Model):
    """A boundary: a police force area, a local policing area, a district or a ward.

    The force areas together are the service area: reports outside them are refused.
    """

    class Kind(models.TextChoices):
        FORCE = "force", "Police force area"
        LOCAL_POLICING_AREA = "lpa", "Local policing area"
        DISTRICT = "district", "District"
        WARD = "ward", "Ward"

    code = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    # GiST index (spatial_index=True, the default) for "areas in this bbox".
    geom = models.MultiPolygonField(srid=4326)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "name"]
        indexes = [models.Index(fields=["kind"], name="area_kind_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"


class AreaPart(models.Model):
    """An area cut into pieces of at most a few hundred vertices (``ST_Subdivide``).

    Locating a point against small indexed pieces costs a few index probes instead of a
    test against a county boundary with tens of thousands of vertices. Rebuilt whenever
    the area's geometry is written (``geo.areas.area_upsert``).
    """

    area = models.ForeignKey(Area, on_delete=models.CASCADE, related_name="parts")
    kind = models.CharField(max_length=16, choices=Area.Kind.choices)
    # GiST index: the point-in-area lookup in geo.areas.locate_point.
    geom = models.PolygonField(srid=4326)

    def __str__(self) -> str:
        return f"part of {self.area_id}"
