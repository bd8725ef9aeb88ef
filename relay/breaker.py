"""Bounded Redis calls for paths that must not wait on Redis (a mail handed over by the outbox
dispatcher, a Slack envelope to acknowledge within 3 s).

A Redis that is frozen (stopped process, full network buffer, paused VM) still accepts
connections and never answers, so each call would wait for the client's socket timeout, and the
dispatcher's whole batch with it. Here each call gets `timeout` seconds; a failed or late call
opens the breaker for `cooldown` seconds, during which calls fail at once and their callers use
their own memory; after that one call at a time tries Redis again, and the first that succeeds
closes the breaker.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

T = TypeVar("T")

TIMEOUT = 0.5  # seconds a call may take
COOLDOWN = 5.0  # seconds Redis is left alone after a failure


class RedisSkipped(RedisConnectionError):
    """Redis failed lately (or is being probed by another call): not asked this time."""


class RedisBreaker:
    def __init__(
        self,
        *,
        timeout: float = TIMEOUT,
        cooldown: float = COOLDOWN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout = timeout
        self.cooldown = cooldown
        self._clock = clock
        self._closed_at = 0.0  # monotonic time from which Redis may be asked again
        self._probing = False  # a call is trying Redis after a failure

    @property
    def open(self) -> bool:
        """Whether calls are skipped now."""
        return self._clock() < self._closed_at

    async def call(self, make: Callable[[], Awaitable[T]]) -> T:
        """`await make()` within `timeout`; a `RedisError` when it fails, is late, or was not
        tried because Redis failed lately."""
        probe = self._closed_at > 0.0
        if self.open or (probe and self._probing):
            raise RedisSkipped("Redis failed lately; not asked until it has rested")
        self._probing = probe
        try:
            async with asyncio.timeout(self.timeout):
                result = await make()
        except (RedisError, OSError, TimeoutError) as exc:
            self._closed_at = self._clock() + self.cooldown
            if isinstance(exc, RedisError):
                raise
            raise RedisConnectionError(
                f"Redis did not answer within {self.timeout:g}s"
                if isinstance(exc, TimeoutError)
                else str(exc)
            ) from exc
        finally:
            if probe:
                self._probing = False
        self._closed_at = 0.0
        return result
