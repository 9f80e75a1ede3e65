"""Loaded with ``-p tests.env`` before Django's settings, so that it can point them away
from the development services.

Tests use their own Redis database so that a running `make run` worker never takes their
tasks and the tests never flush its cache or throttle.
"""

import os

os.environ["REDIS_URL"] = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
