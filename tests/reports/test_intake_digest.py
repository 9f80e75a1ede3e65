"""A report's digest and receipt stay what they always were, so replays keep matching.

Every stored report holds the digest of its body (``body_digest``), and its receipt is
derived from it: a report sent again after an upgrade must produce the same digest and the
same receipt, or the app would get a 409 for its own retry and could no longer delete it.
"""

import base64
import hashlib
import hmac
import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reports.intake import ReportInput, parse_report
from reports.services import receipt_for

# What the canonical body may hold: JSON's escapes, control characters, non-ASCII text, a
# lone surrogate (json.loads makes one from "\ud800"), astral characters.
CHARACTERS = ["a", "Z", " ", "é", '"', "\\", "/", "\n", "\t", "\x7f", "\x1f", "\u2028", "\ud800"]
CHARACTERS += ["中", "😀", "<", "&", "'"]


def reference_digest(report: ReportInput) -> str:
    """The digest as it was first defined: sha256 of this json.dumps."""
    canonical = json.dumps(
        [
            str(report.id),
            repr(report.longitude),
            repr(report.latitude),
            list(report.reasons),
            report.feeling,
            report.severity,
            report.felt_at.isoformat() if report.felt_at else None,
            report.description,
            report.app_version,
        ],
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def random_report(rng: random.Random) -> ReportInput:
    def text(longest: int) -> str:
        return "".join(rng.choice(CHARACTERS) for _ in range(rng.randint(0, longest)))

    felt_at = None
    if rng.random() < 0.5:
        felt_at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(
            seconds=rng.randint(0, 10**7), microseconds=rng.choice([0, rng.randint(1, 999_999)])
        )
    codes = ["isolated", "poor_lighting", "no_cctv", "followed", "other"]
    return ReportInput(
        uuid.UUID(int=rng.getrandbits(128), version=4),
        rng.choice([rng.uniform(-180, 180), float(rng.randint(-180, 180)), 1e-7, -0.0]),
        rng.uniform(-90, 90),
        tuple(sorted(rng.sample(codes, rng.randint(0, 3)))),
        rng.choice(["unsafe", "safe"]),
        rng.choice([None, 1, 2, 3]),
        felt_at,
        text(12),
        text(4),
    )


def test_the_digest_is_the_sha256_of_the_canonical_json_it_always_was():
    rng = random.Random(20261121)

    for _ in range(5000):
        report = random_report(rng)

        assert report.digest == reference_digest(report), report


def test_a_parsed_report_has_the_same_digest_however_its_id_is_written():
    body: dict[str, Any] = {
        "id": "0D6F6F0E-4B5B-4C55-9D3A-2A4F4F1F0C11",
        "location": {"type": "Point", "coordinates": [-2, 52.19]},
        "reasons": ["poor_lighting", "isolated"],
        "severity": 2,
        "felt_at": "2026-11-20T22:15:00+01:00",
        "description": 'He said "wait" \\ then left',
    }

    report = parse_report(body)
    lower = parse_report({**body, "id": body["id"].lower()})

    assert report.key == "0d6f6f0e-4b5b-4c55-9d3a-2a4f4f1f0c11"
    assert report.digest == lower.digest == reference_digest(report)


@pytest.mark.parametrize("secret", ["a-secret-key", "another-secret-key-é"])
def test_the_receipt_is_the_hmac_it_always_was(secret, settings):
    settings.SECRET_KEY = secret
    report = random_report(random.Random(7))
    key = hashlib.sha256(f"streetsafe-receipt:{secret}".encode()).digest()
    mac = hmac.digest(key, f"{report.id}:{report.digest}".encode(), "sha256")

    expected = base64.urlsafe_b64encode(mac).decode().rstrip("=")

    assert receipt_for(report.key, report.digest) == expected
    assert receipt_for(report.id, report.digest) == expected
