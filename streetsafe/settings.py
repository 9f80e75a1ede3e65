"""StreetSafe settings, read from the environment with working local defaults."""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from streetsafe.env import (
    envbool,
    envfloat,
    envint,
    envlist,
    envnumbers,
    envrate,
    envstr,
    envurl,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = envbool("DEBUG", "true")

SECRET_KEY = envstr("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "insecure-local-development-key-never-use-in-production"  # noqa: S105

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.gis",
    "rest_framework",
    # Only for the migration that hashed its plaintext tokens into knox's (geo 0008).
    "rest_framework.authtoken",
    # Planners' API tokens, stored as SHA-512 digests: a copy of the database lets nobody
    # call the API as a planner.
    "knox",
    "rest_framework_gis",
    "drf_spectacular",
    "geo",
    "reports",
]

MIDDLEWARE = [
    # The app's report POSTs go through this list without the middleware they do not use
    # (streetsafe/middleware.py); every other request through all of it.
    "streetsafe.middleware.IntakeMiddleware",
    "streetsafe.middleware.BodySizeLimitMiddleware",
    "streetsafe.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files (the planner map, MapLibre, the admin) from gunicorn itself.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.http.ConditionalGetMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "streetsafe.urls"
WSGI_APPLICATION = "streetsafe.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL = envurl(
    "DATABASE_URL", "postgis://postgres@127.0.0.1:5432/streetsafe", schemes=("postgis",)
)
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL, engine="django.contrib.gis.db.backends.postgis", conn_max_age=600
    )
}
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# A database that is down must fail a request quickly (503), not hang it.
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = 3

REDIS_URL = envurl("REDIS_URL", "redis://127.0.0.1:6379/0", schemes=("redis", "rediss"))
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "streetsafe",
        # Short timeouts: with Redis down, intake carries on without its throttle.
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Europe/London"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Security: safe by default once DEBUG is off; each can be relaxed from the environment.
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", str(not DEBUG))
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000", minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SILENCED_SYSTEM_CHECKS = [
    # Debian 12's GDAL (3.6) cannot block file and network access from spatial references.
    # No spatial reference from outside reaches GDAL: the API takes only [lon, lat] numbers,
    # and boundary files are imported by an operator from the shell.
    "gis.W001",
]

# Where the analysis runs: a metric SRID, so "within 25 m" means 25 metres.
ANALYSIS_SRID = envint("ANALYSIS_SRID", "27700", minimum=1)
K_ANONYMITY = envint("K_ANONYMITY", "5", minimum=1)
RETENTION_DAYS = envint("RETENTION_DAYS", "365", minimum=1)
PORT = envint("PORT", "8000", minimum=1)
if PORT > 65535:
    raise ImproperlyConfigured(f"PORT must be at most 65535, not {PORT}")
REPORT_THROTTLE_RATE = envrate("REPORT_THROTTLE_RATE", "20/min")
MAX_BATCH = envint("MAX_BATCH", "100", minimum=1)
MAX_DESCRIPTION_LENGTH = 1000
NUM_PROXIES = envint("NUM_PROXIES", "0", minimum=0)
# A request body larger than this is refused with 413 before it is read.
MAX_BODY_BYTES = envint("MAX_BODY_BYTES", str(MAX_BATCH * 4096 + 65536), minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_BODY_BYTES

# Hotspots. Resolutions are hexagon widths across the corners, in metres, finest first;
# each has its own Getis-Ord Gi* fixed distance band (metres between cell centres).
HOTSPOT_RESOLUTIONS = [int(v) for v in envnumbers("HOTSPOT_RESOLUTIONS", "50,200,1000")]
HOTSPOT_DISTANCE_BANDS = envnumbers(
    "HOTSPOT_DISTANCE_BANDS", "100,400,2000", count=len(HOTSPOT_RESOLUTIONS)
)
# Weights of an unsafe report by severity (uneasy, unsafe, very unsafe); no severity
# counts as the middle one.
HOTSPOT_SEVERITY_WEIGHTS = envnumbers("HOTSPOT_SEVERITY_WEIGHTS", "1,2,3", count=3)
# A report's weight halves every this many days since it was felt (or received).
HOTSPOT_HALF_LIFE_DAYS = envfloat("HOTSPOT_HALF_LIFE_DAYS", "180", minimum=1)
# Emerging hot spots: the resolution whose monthly series is tested, and how many months.
HOTSPOT_EMERGING_RESOLUTION = envint("HOTSPOT_EMERGING_RESOLUTION", "200", minimum=1)
if HOTSPOT_EMERGING_RESOLUTION not in HOTSPOT_RESOLUTIONS:
    raise ImproperlyConfigured(
        f"HOTSPOT_EMERGING_RESOLUTION must be one of HOTSPOT_RESOLUTIONS {HOTSPOT_RESOLUTIONS}, "
        f"not {HOTSPOT_EMERGING_RESOLUTION}"
    )
HOTSPOT_EMERGING_MONTHS = envint("HOTSPOT_EMERGING_MONTHS", "12", minimum=3)
# Places: DBSCAN of unsafe reports (neighbourhood radius in metres, and core size).
PLACES_EPS_M = envfloat("PLACES_EPS_M", "40", minimum=1)
PLACES_MIN_POINTS = envint("PLACES_MIN_POINTS", "12", minimum=2)
# Rebuilds: on a schedule, and this many seconds after new reports or erasures.
HOTSPOT_REBUILD_SECONDS = envint("HOTSPOT_REBUILD_SECONDS", "900", minimum=10)
HOTSPOT_DEBOUNCE_SECONDS = envint("HOTSPOT_DEBOUNCE_SECONDS", "15", minimum=1)

SHARED_DATA_DIR = Path(envstr("SHARED_DATA_DIR", str(BASE_DIR.parent / "shared" / "data")))

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Token first: a request without credentials is then a 401 that names the scheme
    # (WWW-Authenticate: Token), which API clients and QGIS understand; the web map logs in.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "streetsafe.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["streetsafe.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "streetsafe.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    # How many proxies in front set X-Forwarded-For. 0 trusts only the socket's address, so
    # a client cannot dodge the throttle by sending a header of its own.
    "NUM_PROXIES": NUM_PROXIES,
    # `format` is an ordinary query parameter here (exports, priorities, the evidence pack
    # take csv, gpkg, pdf...), not DRF's switch between renderers, which would 404 them.
    "URL_FORMAT_OVERRIDE": None,
}

REST_KNOX = {
    # A planner's token lasts until it is revoked (create_planner --token replaces it, the
    # admin deletes it), as QGIS projects keep it.
    "TOKEN_TTL": None,
    "AUTH_HEADER_PREFIX": "Token",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "StreetSafe API",
    "DESCRIPTION": (
        "Anonymous street-safety reports from the public, and the analysis planners use. "
        "This service is not for reporting crime: in an emergency call 999."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
}

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 1, "socket_timeout": 2}
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "purge-expired-free-text": {
        "task": "reports.tasks.reports_purge_expired_task",
        "schedule": envint("PURGE_INTERVAL_SECONDS", "3600", minimum=1),
    },
    "rebuild-hotspots": {
        "task": "geo.tasks.hotspots_rebuild_task",
        "schedule": HOTSPOT_REBUILD_SECONDS,
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    # Django's own handler would print every line a second time.
    "loggers": {
        "django": {"handlers": ["console"], "propagate": False},
        # WeasyPrint and fontTools log every layout step of a PDF at INFO.
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}

# Planner layers.
# GeoJSON pages of report points for planners: the default and the most a client may ask.
REPORTS_PAGE_SIZE = envint("REPORTS_PAGE_SIZE", "500", minimum=1)
REPORTS_MAX_PAGE_SIZE = envint("REPORTS_MAX_PAGE_SIZE", "5000", minimum=1)
# The most cells one GeoJSON answer of hotspots carries; more is a 400 asking for a smaller
# box or a coarser resolution (tiles are for whole-map views).
HOTSPOTS_MAX_CELLS = envint("HOTSPOTS_MAX_CELLS", "50000", minimum=1)
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/planner/"

# --- Vector tiles (geo/tiles.py) ---
# Tiles are kept in Django's cache (Redis) under the live hotspot generation, so a rebuild
# moves every key on and nothing is ever purged. Off only to measure the database's work.
TILES_CACHE = envbool("TILES_CACHE", "true")
TILES_CACHE_SECONDS = envint("TILES_CACHE_SECONDS", "86400", minimum=1)
# How long a browser may keep a tile before asking again (with If-None-Match).
TILES_MAX_AGE_SECONDS = envint("TILES_MAX_AGE_SECONDS", "60", minimum=0)
# The most features one tile of reports carries: above it, reports are counted in cells.
TILES_MAX_FEATURES = envint("TILES_MAX_FEATURES", "4096", minimum=4)
# Report points from this zoom on (where a tile holds few enough); counts below it.
TILES_REPORT_POINTS_MIN_ZOOM = envint("TILES_REPORT_POINTS_MIN_ZOOM", "14", minimum=0)
# The hotspot resolution by zoom: the coarsest below the first of these zooms, the next
# finer from it, and so on (one zoom fewer than resolutions; extra zooms are ignored).
TILES_HOTSPOT_ZOOMS = [int(v) for v in envnumbers("TILES_HOTSPOT_ZOOMS", "12,14")]
# Places as their hulls from this zoom on, as their centroids below it.
TILES_PLACE_HULLS_MIN_ZOOM = envint("TILES_PLACE_HULLS_MIN_ZOOM", "13", minimum=0)
# Street lights and cameras each from this zoom on (where a tile holds at most
# TILES_MAX_FEATURES of them), counted in cells below it.
TILES_ASSET_POINTS_MIN_ZOOM = envint("TILES_ASSET_POINTS_MIN_ZOOM", "12", minimum=0)
# --- end of vector tiles ---

# --- Exports (geo/exports.py) ---
# Where export files are written. The web servers serve them and the Celery workers write
# them, so with more than one machine this must be storage they share.
EXPORTS_DIR = Path(envstr("EXPORTS_DIR", str(BASE_DIR / "var" / "exports")))
# An export of at most this many rows is written during the request (201); a larger one by
# a Celery worker (202), which the planner follows through the status URL.
EXPORT_INLINE_ROWS = envint("EXPORT_INLINE_ROWS", "5000", minimum=0)
# A worker writes an export's progress to the database every this many rows.
EXPORT_PROGRESS_ROWS = envint("EXPORT_PROGRESS_ROWS", "5000", minimum=1)
# The Celery queue export tasks go to: "celery" is the one every worker consumes.
EXPORTS_QUEUE = envstr("EXPORTS_QUEUE", "celery")
# GeoPackages are made by GDAL's ogr2ogr (Debian's gdal-bin), given this long at most.
OGR2OGR = envstr("OGR2OGR", "ogr2ogr")
EXPORT_GDAL_TIMEOUT_SECONDS = envint("EXPORT_GDAL_TIMEOUT_SECONDS", "1800", minimum=1)
# Export files are deleted this many days after they were written (the record of each
# export stays), checked every hour.
EXPORT_RETENTION_DAYS = envint("EXPORT_RETENTION_DAYS", "7", minimum=1)
CELERY_BEAT_SCHEDULE["purge-expired-exports"] = {
    "task": "geo.tasks.exports_purge_expired_task",
    "schedule": 3600,
}
# An export or priority run still queued or running this long after it was asked for (or
# started) was abandoned by its worker: it is marked failed, checked every ten minutes.
JOB_ABANDONED_SECONDS = envint("JOB_ABANDONED_SECONDS", "7200", minimum=60)
if JOB_ABANDONED_SECONDS <= EXPORT_GDAL_TIMEOUT_SECONDS:
    raise ImproperlyConfigured(
        f"JOB_ABANDONED_SECONDS ({JOB_ABANDONED_SECONDS}) must be more than "
        f"EXPORT_GDAL_TIMEOUT_SECONDS ({EXPORT_GDAL_TIMEOUT_SECONDS})"
    )
CELERY_BEAT_SCHEDULE["fail-abandoned-jobs"] = {
    "task": "geo.tasks.jobs_fail_abandoned_task",
    "schedule": 600,
}
# --- end of exports ---

# --- Assets, coverage and priorities (geo/assets.py, geo/coverage.py, geo/priorities.py) ---
# A report is covered by lighting when a working light is this close, in metres, and by
# CCTV when a working public-space camera is.
LIGHT_RADIUS_M = envint("LIGHT_RADIUS_M", "25", minimum=1)
CAMERA_RADIUS_M = envint("CAMERA_RADIUS_M", "50", minimum=1)
# Candidate sites for new lights or cameras are the centres of the finest hotspot hexagons
# holding uncovered demand, at most this many (those holding the most); for CCTV as many
# existing lamp columns again. The answer's time grows with it.
PRIORITIES_MAX_CANDIDATES = envint("PRIORITIES_MAX_CANDIDATES", "5000", minimum=1)
# A question whose scope holds at most this many uncovered demand reports is answered in
# the request (200); a larger one by a Celery worker (202), followed through its status URL.
PRIORITIES_INLINE_REPORTS = envint("PRIORITIES_INLINE_REPORTS", "20000", minimum=0)
# The cost of one new site, in pounds, when the planner gives none: set them from your own
# contracts. A complete new residential street light is "around £2,500" (Cheshire West and
# Chester's street lighting facts), in line with Richmond's 2016 answer to a freedom of
# information request: £600-£1,400 to supply and erect a 5-10 m column, plus about £1,000
# for the power connection. A redeployable camera was costed at £10,000, £7,000 to buy and
# the rest to move it around (New Milton Town Council, 2023); a fixed public-space camera
# with its power and its link to the control room costs more, hence £15,000.
PRIORITIES_UNIT_COST_LIGHTING = envfloat("PRIORITIES_UNIT_COST_LIGHTING", "2500", minimum=0.01)
PRIORITIES_UNIT_COST_CCTV = envfloat("PRIORITIES_UNIT_COST_CCTV", "15000", minimum=0.01)
# The Celery queue priority tasks go to: "celery" is the one every worker consumes.
PRIORITIES_QUEUE = envstr("PRIORITIES_QUEUE", "celery")
# --- end of assets, coverage and priorities ---

# --- The evidence pack (geo/evidence.py) ---
# The budget the pack spends on each intervention when the planner names none, in pounds.
EVIDENCE_BUDGET = envfloat("EVIDENCE_BUDGET", "50000", minimum=1)
EVIDENCE_TOP_PLACES = envint("EVIDENCE_TOP_PLACES", "10", minimum=1)
# The most past interventions the pack evaluates, newest first.
EVIDENCE_MAX_INTERVENTIONS = envint("EVIDENCE_MAX_INTERVENTIONS", "50", minimum=1)
# --- end of the evidence pack ---

# --- Interventions and their evaluation (geo/evaluation.py) ---
# The distance around an intervention within which reports count as its own, in metres,
# when the planner gives none: the street around the site, not the lamp's pool of light
# (LIGHT_RADIUS_M), because a pin is placed by hand and a phone's fix strays by tens of
# metres. At most INTERVENTION_MAX_RADIUS_M, so that the treated reports stay a small part
# of the local policing area they are compared with.
INTERVENTION_RADIUS_M = envint("INTERVENTION_RADIUS_M", "100", minimum=1)
INTERVENTION_MAX_RADIUS_M = envint("INTERVENTION_MAX_RADIUS_M", "1000", minimum=1)
if INTERVENTION_RADIUS_M > INTERVENTION_MAX_RADIUS_M:
    raise ImproperlyConfigured(
        f"INTERVENTION_RADIUS_M ({INTERVENTION_RADIUS_M}) must be at most "
        f"INTERVENTION_MAX_RADIUS_M ({INTERVENTION_MAX_RADIUS_M})"
    )
# Whole months compared before an intervention, and at most as many after it.
EVALUATION_MONTHS = envint("EVALUATION_MONTHS", "12", minimum=1)
# Each of the four counts (near and in the rest of the area, before and after) must reach
# this for a rate ratio to be given; below it the evaluation says there are too few.
EVALUATION_MIN_COUNT = envint("EVALUATION_MIN_COUNT", "10", minimum=1)
# How long the public "you said, we did" list is kept in the cache, in seconds.
PUBLIC_ACTIONS_CACHE_SECONDS = envint("PUBLIC_ACTIONS_CACHE_SECONDS", "300", minimum=0)
# --- end of interventions ---

# --- The planner map (geo/planner.py) ---
# MapLibre GL JS, installed from npm by `make install`, served as static files under
# maplibre-gl/ (never from a CDN).
STATICFILES_DIRS = [("maplibre-gl", BASE_DIR / "node_modules" / "maplibre-gl" / "dist")]
# An optional basemap under the planner layers: a MapLibre style (a URL ending in .json) or
# a raster tile template with {z}/{x}/{y}. Empty: the boundaries on a plain background.
PLANNER_BASEMAP_URL = (
    envurl("PLANNER_BASEMAP_URL", "", schemes=("https", "http"))
    if envstr("PLANNER_BASEMAP_URL", "").strip()
    else ""
)
# GeoJSON pages of street lights and cameras: the default and the most a client may ask.
ASSETS_PAGE_SIZE = envint("ASSETS_PAGE_SIZE", "500", minimum=1)
ASSETS_MAX_PAGE_SIZE = envint("ASSETS_MAX_PAGE_SIZE", "5000", minimum=1)
# --- end of the planner map ---
