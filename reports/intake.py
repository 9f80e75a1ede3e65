"""Validation of one report as the app sends it.

Written by hand rather than as a DRF serializer because the batch endpoint validates a
hundred reports per request and must stay cheap; ``reports.apis.ReportInputSerializer``
documents the same shape for the OpenAPI schema, and the API tests hold the two together.
Every error is keyed by the field it concerns.
"""

import hashlib
import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from json.encoder import encode_basestring_ascii
from typing import Any

from django.conf import settings
from django.utils import timezone

from reports.reasons import REASON_CODES

FEELINGS = ("unsafe", "safe")
SEVERITIES = (1, 2, 3)
MAX_APP_VERSION_LENGTH = 32
MAX_REASONS = len(REASON_CODES)
_KNOWN_REASONS = frozenset(REASON_CODES)
# A phone's clock may run a little ahead of the server's.
CLOCK_SKEW = timedelta(minutes=5)
MAX_AGE = timedelta(days=365)


@dataclass(frozen=True, slots=True)
class ReportInput:
    id: uuid.UUID
    longitude: float
    latitude: float
    reasons: tuple[str, ...]
    feeling: str
    severity: int | None
    felt_at: datetime | None
    description: str
    app_version: str
    # Worked out once, as the report is made: the id as text, and the digest of the body.
    key: str = field(init=False, repr=False, compare=False)
    digest: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        key = str(self.id)
        object.__setattr__(self, "key", key)
        object.__setattr__(
            self, "digest", hashlib.sha256(self._canonical(key).encode()).hexdigest()
        )

    def _canonical(self, key: str) -> str:
        """The body in one canonical form, equal for the same report sent twice: exactly
        ``json.dumps([id, repr(lon), repr(lat), reasons, feeling, severity, felt_at,
        description, app_version], separators=(",", ":"))``, the form every stored digest
        was made from, written out here because json.dumps took a tenth of a batch's time
        (tests/reports/test_intake_digest.py holds the two together). Only the free text
        needs JSON's escaping: the id, the numbers, the codes and the date hold none of the
        characters it escapes."""
        reasons = ",".join([f'"{code}"' for code in self.reasons])
        severity = "null" if self.severity is None else self.severity
        felt_at = "null" if self.felt_at is None else f'"{self.felt_at.isoformat()}"'
        description = encode_basestring_ascii(self.description)
        app_version = encode_basestring_ascii(self.app_version)
        return (
            f'["{key}","{self.longitude!r}","{self.latitude!r}",[{reasons}],"{self.feeling}",'
            f"{severity},{felt_at},{description},{app_version}]"
        )


class InvalidReport(Exception):
    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


def parse_report(data: Any, *, now: datetime | None = None) -> ReportInput:
    """The validated report, or InvalidReport with every problem keyed by its field."""
    if not isinstance(data, dict):
        raise InvalidReport({"body": ["Send a report as a JSON object."]})
    errors: dict[str, list[str]] = {}

    def check(name: str, reader: Any, *args: Any) -> Any:
        try:
            return reader(*args)
        except ValueError as exc:
            errors[name] = [str(exc)]
            return None

    get = data.get
    report_id = check("id", _uuid, get("id"))
    point = check("location", _point, get("location"))
    feeling = check("feeling", _feeling, get("feeling", "unsafe"))
    reasons = check("reasons", _reasons, get("reasons", []), feeling)
    severity = check("severity", _severity, get("severity"))
    felt_at = check("felt_at", _felt_at, get("felt_at"), now)
    description = check("description", _description, get("description"))
    app_version = check("app_version", _app_version, get("app_version"))
    if errors:
        raise InvalidReport(errors)
    return ReportInput(
        report_id,
        point[0],
        point[1],
        reasons,
        feeling,
        severity,
        felt_at,
        description,
        app_version,
    )


def _uuid(value: Any) -> uuid.UUID:
    if value is None:
        raise ValueError("This field is required: a UUID made by the app.")
    if not isinstance(value, str):
        raise ValueError("Must be a UUID string.")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValueError(f"{value[:60]!r} is not a valid UUID.") from None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _point(value: Any) -> tuple[float, float]:
    if value is None:
        raise ValueError('This field is required: {"type": "Point", "coordinates": [lon, lat]}.')
    if not isinstance(value, dict) or value.get("type") != "Point":
        raise ValueError('Must be a GeoJSON Point: {"type": "Point", "coordinates": [lon, lat]}.')
    coordinates = value.get("coordinates")
    if not isinstance(coordinates, list) or len(coordinates) != 2:
        raise ValueError("coordinates must be [longitude, latitude].")
    if not (_is_number(coordinates[0]) and _is_number(coordinates[1])):
        raise ValueError("coordinates must be numbers.")
    longitude, latitude = float(coordinates[0]), float(coordinates[1])
    if not (math.isfinite(longitude) and math.isfinite(latitude)):
        raise ValueError("coordinates must be finite numbers, not NaN or Infinity.")
    if not -180 <= longitude <= 180:
        raise ValueError(f"Longitude {longitude} is out of range (-180 to 180).")
    if not -90 <= latitude <= 90:
        raise ValueError(f"Latitude {latitude} is out of range (-90 to 90).")
    return longitude, latitude


def _feeling(value: Any) -> str:
    if value not in FEELINGS:
        raise ValueError(f"Must be one of: {', '.join(FEELINGS)}.")
    return str(value)


def _reasons(value: Any, feeling: str | None) -> tuple[str, ...]:
    if value is None:
        value = []
    if not isinstance(value, list):
        raise ValueError("Must be a list of reason codes.")
    for code in value:
        if not isinstance(code, str):
            raise ValueError("Must be a list of reason codes.")
    for code in value:
        if code not in _KNOWN_REASONS:
            raise ValueError(
                f"Unknown reason {code[:40]!r}; choose from: {', '.join(REASON_CODES)}."
            )
    if not value and feeling != "safe":
        raise ValueError("Give at least one reason why the place feels unsafe.")
    return tuple(sorted(set(value)))


def _severity(value: Any) -> int | None:
    if value is None:
        return None
    if not _is_number(value) or value not in SEVERITIES or not float(value).is_integer():
        raise ValueError("Must be 1 (uneasy), 2 (unsafe) or 3 (very unsafe).")
    return int(value)


def _felt_at(value: Any, now: datetime | None) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("Must be an ISO 8601 date and time with an offset.")
    try:
        felt_at = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{value[:40]!r} is not an ISO 8601 date and time, e.g. 2026-11-20T22:15:00+00:00."
        ) from None
    if felt_at.tzinfo is None:
        raise ValueError("Must include a UTC offset, e.g. 2026-11-20T22:15:00+00:00.")
    now = now or timezone.now()
    if felt_at > now + CLOCK_SKEW:
        raise ValueError("Cannot be in the future.")
    if felt_at < now - MAX_AGE:
        raise ValueError("Cannot be more than a year ago.")
    return felt_at.astimezone(UTC)


def _clean_text(value: str) -> str:
    # PostgreSQL text cannot hold NUL; other control characters are noise. Printable text
    # holds none of them, and is most text: one C call instead of a look at each character.
    if value.isprintable():
        return value.strip()
    return "".join(ch for ch in value if ch in "\n\t" or ch >= " ").strip()


def _description(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError("Must be text.")
    limit = settings.MAX_DESCRIPTION_LENGTH
    if len(value) > limit:
        raise ValueError(f"At most {limit} characters; this has {len(value)}.")
    return _clean_text(value)


def _app_version(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError("Must be text.")
    if len(value) > MAX_APP_VERSION_LENGTH:
        raise ValueError(f"At most {MAX_APP_VERSION_LENGTH} characters.")
    return _clean_text(value)
