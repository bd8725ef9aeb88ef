"""The fault suite starts its own PostgreSQL and Redis (tests/fault/services.py): it never stops
the shared ones. `-m "not fault"` leaves it out; under CI=true it runs, and a missing binary is
a failure instead of a skip."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "fault: restarts and stops its own PostgreSQL, Redis and app process"
    )
