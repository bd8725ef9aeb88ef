"""Opaque cursors for paging runs newest first, shared by every `RunStore` so pages look alike."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime

from engine.errors import InvalidInput


def encode_cursor(started_at: datetime, run_id: str) -> str:
    """An opaque cursor pointing just after this run in newest-first order."""
    raw = f"{started_at.astimezone(UTC).isoformat()}|{run_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Inverse of `encode_cursor`; raises `InvalidInput` naming the cursor when it is garbled."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, run_id = raw.split("|", 1)
        started_at = datetime.fromisoformat(at)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput({"cursor": "not a cursor returned by a previous page"}) from None
    if started_at.tzinfo is None or not run_id:
        raise InvalidInput({"cursor": "not a cursor returned by a previous page"})
    return started_at, run_id


def encode_task_cursor(since: datetime, run_id: str, step_id: str) -> str:
    """An opaque cursor pointing just after this step in the pending tasks' oldest-first order."""
    raw = f"{since.astimezone(UTC).isoformat()}|{run_id}|{step_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_task_cursor(cursor: str) -> tuple[datetime, str, str]:
    """Inverse of `encode_task_cursor`; raises `InvalidInput` naming the cursor when garbled."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, run_id, step_id = raw.split("|", 2)
        since = datetime.fromisoformat(at)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput({"cursor": "not a cursor returned by a previous page"}) from None
    if since.tzinfo is None or not run_id or not step_id:
        raise InvalidInput({"cursor": "not a cursor returned by a previous page"})
    return since, run_id, step_id
