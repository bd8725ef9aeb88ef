"""Slack may deliver one request twice (retries, several Socket Mode connections): the second
delivery is acknowledged and dropped.

The key is what Slack keeps across a redelivery: the event id of an Events API callback, else the
trigger id of an interaction (unique per click or submission, new for a second click), else the
payload itself. With Redis the keys are shared by every replica (SET NX with an expiry), since
Slack may retry on another connection; without it each process remembers a bounded number of
keys. The engine's own idempotency (run sequence, idempotency keys) covers anything older.
Redis gets a short time to answer, and is left alone for a few seconds after it failed
(`relay.breaker`): a frozen Redis must not hold up the 3-second acknowledgement.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from slack_bolt.response import BoltResponse

from relay.breaker import RedisBreaker, RedisSkipped

log = logging.getLogger("countersign.slack")
REDIS_PREFIX = "countersign:slack:seen:"
REDIS_TTL = 3600  # seconds; Slack retries within minutes


def delivery_key(body: dict[str, Any]) -> str:
    if body.get("event_id"):
        return "event:" + str(body["event_id"])
    if body.get("trigger_id"):
        return "trigger:" + str(body["trigger_id"])
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return "body:" + digest


class Deduplicator:
    def __init__(
        self,
        redis: Redis | None = None,
        *,
        remember: int = 10_000,
        breaker: RedisBreaker | None = None,
    ) -> None:
        self._redis = redis
        self._breaker = breaker or RedisBreaker()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._remember = remember

    async def first_time(self, key: str) -> bool:
        if (redis := self._redis) is not None:
            try:
                name = REDIS_PREFIX + key
                return bool(
                    await self._breaker.call(lambda: redis.set(name, 1, nx=True, ex=REDIS_TTL))
                )
            except RedisError as e:  # a Redis outage must not stop Slack: fall back, loudly
                if not isinstance(e, RedisSkipped):  # once per try, not per envelope
                    log.warning("Slack: de-duplication falls back to this process (Redis: %s)", e)
        return self._first_time_here(key)

    def _first_time_here(self, key: str) -> bool:
        if key in self._seen:
            return False
        self._seen[key] = None
        if len(self._seen) > self._remember:
            self._seen.popitem(last=False)
        return True

    async def middleware(
        self, body: dict[str, Any], next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        """A Bolt global middleware: an empty 200 acks a repeat without running listeners."""
        key = delivery_key(body)
        if not await self.first_time(key):
            log.info("Slack: repeated delivery %s acknowledged and ignored", key)
            return BoltResponse(status=200, body="")
        await next()
        return None
