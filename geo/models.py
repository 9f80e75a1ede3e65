from django.conf import settings
from django.contrib.gis.db import models
from django.contrib.postgres.fields import ArrayField


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


class HotspotGeneration(models.Model):
    """One complete hotspot result: every resolution's cells and the places.

    Readers only ever read the live generation. A rebuild writes a new one beside it and
    swaps the live flag in one transaction, so a reader sees the old result or the new one.
    """

    class Status(models.TextChoices):
        BUILDING = "building", "Building"
        LIVE = "live", "Live"
        RETIRED = "retired", "Retired"
        FAILED = "failed", "Failed"

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.BUILDING)
    started_at = models.DateTimeField()
    built_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    report_count = models.PositiveIntegerField(default=0)
    cell_count = models.PositiveIntegerField(default=0)
    place_count = models.PositiveIntegerField(default=0)
    # The settings it was built with (resolutions, bands, weights, DBSCAN), for the record.
    parameters = models.JSONField(default=dict)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"], condition=models.Q(status="live"), name="one_live_generation"
            ),
        ]

    def __str__(self) -> str:
        return f"hotspot generation {self.pk} ({self.status})"


class HotspotCell(models.Model):
    """One hexagon of one resolution in one generation, with its counts and statistics.

    The hexagon is PostGIS's ``ST_Hexagon(resolution / 2, i, j)`` in ``ANALYSIS_SRID``: it
    is rebuilt from (resolution, i, j) when drawn, so a rebuild writes no geometry.
    """

    class Class(models.IntegerChoices):
        COLD_99 = -3, "Cold spot, 99% confidence"
        COLD_95 = -2, "Cold spot, 95% confidence"
        COLD_90 = -1, "Cold spot, 90% confidence"
        NOT_SIGNIFICANT = 0, "Not significant"
        HOT_90 = 1, "Hot spot, 90% confidence"
        HOT_95 = 2, "Hot spot, 95% confidence"
        HOT_99 = 3, "Hot spot, 99% confidence"

    # Both foreign keys are covered by the composite indexes below. Cells are derived
    # data written in bulk by a rebuild: a database foreign key check per row would cost
    # more than the rest of the write, so the rebuild keeps them right (it deletes a
    # generation's cells with it, and takes areas from the reports).
    generation = models.ForeignKey(
        HotspotGeneration, on_delete=models.CASCADE, db_index=False, db_constraint=False
    )
    # None for the generation's own cells (every report); else the filter slice they are of.
    slice = models.ForeignKey(
        "HotspotSlice",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        db_index=False,
        db_constraint=False,
    )
    # The hexagon's width across its corners, in metres.
    resolution = models.PositiveIntegerField()
    i = models.IntegerField()
    j = models.IntegerField()
    area = models.ForeignKey(
        Area,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_index=False,
        db_constraint=False,
    )
    unsafe = models.PositiveIntegerField()
    safe = models.PositiveIntegerField()
    # Distinct reports in the cell, what the public layer's k-anonymity suppression counts.
    reports = models.PositiveIntegerField()
    # Unsafe reports per reason, in the order of reports.reasons.REASON_CODES.
    reason_counts = ArrayField(models.PositiveIntegerField())
    # Unsafe reports by when they were felt: day, evening, night, unknown.
    band_counts = ArrayField(models.PositiveIntegerField(), size=4)
    score = models.FloatField()
    gi_z = models.FloatField()
    gi_p = models.FloatField()
    gi_class = models.SmallIntegerField(choices=Class.choices)
    # Emerging hot spot class (None where the cell has no monthly series).
    trend = models.CharField(max_length=24, blank=True)
    trend_tau = models.FloatField(null=True, blank=True)
    trend_p = models.FloatField(null=True, blank=True)

    class Meta:
        indexes = [
            # Cells of the live generation by resolution and bbox (i and j ranges).
            models.Index(
                fields=["generation", "slice", "resolution", "i", "j"], name="cell_grid_idx"
            ),
            # Cells of one area: area summaries and the area filter.
            models.Index(fields=["generation", "area", "resolution"], name="cell_area_idx"),
        ]

    def __str__(self) -> str:
        return f"cell {self.resolution} m ({self.i}, {self.j})"


class HotspotSlice(models.Model):
    """One resolution's cells of a generation for a filter slice of its reports.

    Built on demand (``geo.hotspots.slices``) from the reports the generation saw, then
    reused until the generation is retired; its cells are ``HotspotCell`` rows carrying it.
    """

    generation = models.ForeignKey(HotspotGeneration, on_delete=models.CASCADE)
    resolution = models.PositiveIntegerField()
    # The filter in a canonical text form (``Slice.key``), unique per generation and
    # resolution.
    key = models.CharField(max_length=500)
    reasons = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    band = models.CharField(max_length=10, blank=True)
    since = models.DateTimeField(null=True, blank=True)
    until = models.DateTimeField(null=True, blank=True)
    built_at = models.DateTimeField()
    duration_seconds = models.FloatField()
    report_count = models.PositiveIntegerField()
    cell_count = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["generation", "resolution", "key"], name="one_slice_per_filter"
            ),
        ]

    def __str__(self) -> str:
        return f"slice {self.key} at {self.resolution} m of generation {self.generation_id}"


class Place(models.Model):
    """A DBSCAN cluster of unsafe reports: a named, listable hotspot."""

    generation = models.ForeignKey(HotspotGeneration, on_delete=models.CASCADE)
    area = models.ForeignKey(Area, null=True, blank=True, on_delete=models.SET_NULL)
    label = models.CharField(max_length=200)
    centroid = models.PointField(srid=4326)
    hull = models.PolygonField(srid=4326)
    report_count = models.PositiveIntegerField()
    # The most common reasons, most common first.
    top_reasons = ArrayField(models.CharField(max_length=32))
    night_share = models.FloatField()
    score = models.FloatField()

    class Meta:
        ordering = ["-report_count"]
        indexes = [models.Index(fields=["generation", "area"], name="place_area_idx")]

    def __str__(self) -> str:
        return self.label


class Organisation(models.Model):
    """A force, a council or a partnership whose planners see the areas it covers.

    Covering an area covers every area inside it (``geo.access.organisation_area_ids``): a
    force-wide organisation covers the force area, and so each of its local policing areas;
    a council covers its district or local policing area, and not the force around it.
    """

    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    areas = models.ManyToManyField(Area, related_name="organisations", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PlannerProfile(models.Model):
    """The one organisation a planner works for, and so the areas they see.

    A profile alone grants nothing: the user must also be active and in the "planners"
    group (``geo.access.planner_organisation``).
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="planner_profile"
    )
    # Deleting an organisation deletes its profiles: its planners then see nothing.
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="planners"
    )

    def __str__(self) -> str:
        return f"{self.user} of {self.organisation}"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class Job(models.Model):
    """Work a planner asked for that a Celery worker may do (``geo.jobs``): how far it has
    gone, and when it started and finished. Each kind of job has its own ``status`` field,
    with at least ``JobStatus``'s values."""

    # From 0 to 1, written by the worker as it goes.
    progress = models.FloatField(default=0.0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Why it failed, for the planner.
    error = models.TextField(blank=True)

    status: str

    class Meta:
        abstract = True
        ordering = ["-created_at", "-pk"]


class Export(Job):
    """A planner's export of a layer to a file: the record of who took what, and when.

    Kept after its file is gone, so that every export of report data can be accounted for.
    The file lies under ``settings.EXPORTS_DIR``, named by ``geo.exports`` alone.
    """

    class Layer(models.TextChoices):
        HOTSPOTS = "hotspots", "Hotspot cells"
        PLACES = "places", "Places"
        REPORTS = "reports", "Report points"

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        GEOJSON = "geojson", "GeoJSON"
        GPKG = "gpkg", "GeoPackage"

    class Status(models.TextChoices):  # JobStatus's values, and one more
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"
        # Its file deleted after EXPORT_RETENTION_DAYS; the record stays.
        EXPIRED = "expired", "Expired"

    # PROTECT: the record of who exported report data outlives nothing it names.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="exports"
    )
    # The organisation the planner exported for: its scope is what the file holds.
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="exports")
    layer = models.CharField(max_length=10, choices=Layer.choices)
    format = models.CharField(max_length=10, choices=Format.choices)
    # The layer filters as query parameters, canonical (``geo.exports.canonical_filters``).
    filters = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    # Rows written so far; every row of the file once ready.
    row_count = models.PositiveIntegerField(default=0)
    # The file's name inside EXPORTS_DIR; empty until ready, kept once expired.
    file = models.CharField(max_length=200, blank=True)
    file_size = models.PositiveBigIntegerField(null=True, blank=True)

    class Meta(Job.Meta):
        indexes = [
            # A planner's own exports, newest first (the list endpoint).
            models.Index(
                fields=["user", "organisation", "-created_at"], name="export_user_created_idx"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(progress__gte=0, progress__lte=1),
                name="export_progress_0_to_1",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="ready")
                | (models.Q(finished_at__isnull=False, progress=1) & ~models.Q(file="")),
                name="export_ready_has_file",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="failed") | models.Q(finished_at__isnull=False),
                name="export_failed_is_finished",
            ),
        ]

    def __str__(self) -> str:
        return f"export {self.pk}: {self.layer} as {self.format} ({self.status})"


class Asset(models.Model):
    """A street asset at a point: what coverage is measured against.

    ``external_id`` is the owner's own identifier (or, where a file has none, one made from
    the position by ``geo.assets``); an import upserts by it, per owner.
    """

    external_id = models.CharField(max_length=100)
    # The organisation whose asset register it came from; None for open data loaded by an
    # operator for everyone.
    organisation = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    location = models.PointField(srid=4326)
    # The same point in ANALYSIS_SRID (GiST): "within 25 m" without transforming per query.
    location_projected = models.PointField(srid=settings.ANALYSIS_SRID)
    # A street or site name, where the source gives one.
    label = models.CharField(max_length=200, blank=True)
    working = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self._meta.verbose_name} {self.external_id}"


class Streetlight(Asset):
    lamp_type = models.CharField(max_length=50, blank=True)
    wattage = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "external_id"],
                nulls_distinct=False,
                name="streetlight_external_id_per_owner",
            ),
        ]


class Camera(Asset):
    class Kind(models.TextChoices):
        PUBLIC_SPACE = "public_space", "Public space"
        TRAFFIC = "traffic", "Traffic"
        PRIVATE = "private", "Private"

    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PUBLIC_SPACE)
    # How far it sees, in metres, where known.
    range_m = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "external_id"],
                nulls_distinct=False,
                name="camera_external_id_per_owner",
            ),
        ]


class Intervention(models.Model):
    """Something an organisation did at a place: a new light, a repaired one, a camera.

    Its effect is measured (``geo.evaluation``) from the reports within ``radius_m`` of
    ``location`` before and after ``date``, against the rest of ``area``.
    """

    class Kind(models.TextChoices):
        NEW_LIGHT = "new_light", "New street light"
        LIGHT_REPAIRED = "light_repaired", "Street light repaired"
        NEW_CAMERA = "new_camera", "New camera"
        VEGETATION_CLEARED = "vegetation_cleared", "Vegetation cleared"
        OTHER = "other", "Other"

    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="interventions"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # Where it was done: given, or copied from the asset it was done to.
    location = models.PointField(srid=4326)
    location_projected = models.PointField(srid=settings.ANALYSIS_SRID)
    streetlight = models.ForeignKey(
        Streetlight, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    camera = models.ForeignKey(
        Camera, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The local policing area it lies in: the evaluation's control is the rest of it.
    area = models.ForeignKey(
        Area, null=True, blank=True, on_delete=models.SET_NULL, related_name="interventions"
    )
    # The day it was completed; a later day means it is planned.
    date = models.DateField()
    # The distance within which reports count as its own, in metres.
    radius_m = models.PositiveIntegerField()
    cost = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    note = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-date", "-pk"]
        indexes = [models.Index(fields=["organisation", "-date"], name="intervention_org_date_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(radius_m__gte=1), name="intervention_radius_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(cost__isnull=True) | models.Q(cost__gte=0),
                name="intervention_cost_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.date:%Y-%m-%d}"


class PriorityRun(Job):
    """One budgeted choice of new sites for an intervention, as a planner asked for it.

    Small areas are answered during the request; large ones by a Celery worker that writes
    its progress here. The answer is kept in ``result`` and reused for the same question
    while the reports, the assets and the live hotspot generation are unchanged (``key``).
    """

    Status = JobStatus

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="priority_runs"
    )
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="priority_runs"
    )
    # The question as canonical query parameters (intervention, budget, unit_cost, radius,
    # area), and the version of the data it was answered on.
    parameters = models.JSONField(default=dict)
    key = models.CharField(max_length=200, db_index=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    # The chosen sites and totals (``geo.priorities``), once ready.
    result = models.JSONField(null=True, blank=True)

    class Meta(Job.Meta):
        constraints = [
            models.CheckConstraint(
                condition=models.Q(progress__gte=0, progress__lte=1),
                name="priority_run_progress_0_to_1",
            ),
        ]

    def __str__(self) -> str:
        return f"priorities {self.pk} ({self.status})"
