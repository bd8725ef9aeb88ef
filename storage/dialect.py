"""The few places where SQLite and PostgreSQL differ: upserts and unique-violation errors."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError


def insert_for(dialect_name: str) -> Any:
    """The dialect's `insert` (the one with ON CONFLICT support)."""
    return postgresql.insert if dialect_name == "postgresql" else sqlite.insert


def is_lost_race(exc: DBAPIError) -> bool:
    """PostgreSQL gave up on this transaction because of another one (deadlock, serialization
    failure): like a stale seq, trying again on fresh state is the answer."""
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return code in ("40P01", "40001")


def is_unique_violation(exc: DBAPIError) -> bool:
    """A duplicate key (what optimistic concurrency and idempotency keys rely on), as opposed to
    a NOT NULL or check violation, which is a bug and must not be retried."""
    orig = exc.orig
    if getattr(orig, "sqlstate", None) == "23505" or getattr(orig, "pgcode", None) == "23505":
        return True
    text = str(orig)
    return "UNIQUE constraint failed" in text or "duplicate key value" in text


def is_bad_value(exc: DBAPIError) -> bool:
    """The database refused a value (PostgreSQL's class 22, "data exception": a NUL character,
    text it cannot encode, a string too long for its column), as opposed to a broken connection
    or a bug: the batch is worth writing again without the change that holds it."""
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return isinstance(code, str) and code.startswith("22")
