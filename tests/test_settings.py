"""Settings come from the environment; bad values stop start-up naming the variable."""

import subprocess
import sys

import pytest

from tests.support.live import ROOT, production_env


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=production_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_prints_no_warnings_with_production_values():
    result = manage("check", "--deploy", SECURE_SSL_REDIRECT="true", SECURE_HSTS_SECONDS="31536000")

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PORT", "eighty"),
        ("PORT", "70000"),
        ("K_ANONYMITY", "0"),
        ("RETENTION_DAYS", "-3"),
        ("REPORT_THROTTLE_RATE", "lots"),
        ("MAX_BATCH", "many"),
        ("ANALYSIS_SRID", "bng"),
        ("DEBUG", "maybe"),
        ("DATABASE_URL", "mysql://localhost/x"),
        ("REDIS_URL", "localhost:6379"),
        ("LIGHT_RADIUS_M", "0"),
        ("PRIORITIES_UNIT_COST_CCTV", "free"),
        ("EVALUATION_MONTHS", "0"),
        ("EVIDENCE_BUDGET", "-1"),
        ("INTERVENTION_RADIUS_M", "5000"),
        # Not more than the slowest step of an export may take.
        ("JOB_ABANDONED_SECONDS", "600"),
    ],
)
def test_a_bad_value_stops_start_up_naming_the_variable(variable, value):
    result = manage("check", **{variable: value})

    assert result.returncode != 0
    assert variable in result.stderr
    assert "Traceback" not in result.stderr


def test_secret_key_is_required_when_debug_is_off():
    result = manage("check", SECRET_KEY="")

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
