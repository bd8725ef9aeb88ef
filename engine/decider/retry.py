"""Retry policy: which failures retry, and when the next attempt is due.

Backoff after attempt n is initial_delay * multiplier^(n-1), capped at max_delay; with jitter it is
scaled into [50%, 100%] by a fraction derived from the command key (a hash, not a random draw),
so the decider stays a pure function and replays give the same times.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from engine.definitions.models import RetryPolicy


def retries_on(policy: RetryPolicy, reason: str) -> bool:
    """Whether a failure of this kind ("timeout", "connection", "5xx", "429", a status code as a
    string, or "permanent") is worth another attempt under `policy`."""
    status = int(reason) if reason.isdigit() else None
    for item in policy.retry_on:
        if isinstance(item, int):
            if status == item:
                return True
        elif item == reason or (item == "5xx" and status is not None and 500 <= status < 600):
            return True
    return False


def jitter_fraction(key: str) -> float:
    """A fraction in [0, 1) fixed by `key`."""
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def backoff(policy: RetryPolicy, attempt: int, key: str) -> timedelta:
    """How long to wait after failed attempt number `attempt` (1-based)."""
    seconds = min(
        policy.initial_delay.seconds * policy.multiplier ** (attempt - 1),
        float(policy.max_delay.seconds),
    )
    if policy.jitter:
        seconds *= 0.5 + 0.5 * jitter_fraction(key)
    return timedelta(milliseconds=round(seconds * 1000))


def next_attempt_at(
    policy: RetryPolicy, attempt: int, reason: str, key: str, now: datetime
) -> datetime | None:
    """When to try again after attempt `attempt` failed with `reason`; None: give up."""
    if attempt >= policy.max_attempts or not retries_on(policy, reason):
        return None
    return now + backoff(policy, attempt, key)


def gave_up(error: str, attempts: int) -> str:
    return error if attempts <= 1 else f"{error} (gave up after {attempts} attempts)"
