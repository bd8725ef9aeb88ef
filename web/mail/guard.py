"""Which mails went out lately, so a retried command does not mail the same people twice.

A broadcast command (e.g. a run's final `run_changed`) is retried when part of it fails (its
webhook), possibly by another replica once the claim's lease ends. With Redis every replica
shares the record: a mail is claimed with SET NX and a short lease before it is handed over,
and marked sent (kept `ttl`) after; a failed hand-over releases the claim, and a crash between
the two lets the lease run out, so a mail is never lost to the guard. Another process's live
claim makes the command retry later (`MailUnavailable`) rather than guess. Without Redis, or
while it does not answer (logged at most once a minute), each process remembers a bounded
number of mails, as before. Mails are sent by the outbox dispatcher, which must not wait on
Redis: each call is bounded, and after a failure Redis is left alone for a few seconds
(`relay.breaker`).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from datetime import timedelta

from redis.asyncio import Redis
from redis.exceptions import RedisError

from relay.breaker import RedisBreaker
from web.mail.sender import MailUnavailable

log = logging.getLogger("countersign.mail")

REDIS_PREFIX = "countersign:mail:sent:"
SENT = b"sent"
SENDING = b"sending"
MEMORY = 10_000
COMPLAIN_EVERY = 60.0  # seconds between two warnings about Redis


class SentGuard:
    def __init__(
        self,
        redis: Redis | None = None,
        *,
        ttl: timedelta = timedelta(days=4),
        lease: timedelta = timedelta(minutes=2),
        remember: int = MEMORY,
        breaker: RedisBreaker | None = None,
    ) -> None:
        self._redis = redis
        self._breaker = breaker or RedisBreaker()
        self._ttl = max(1, int(ttl.total_seconds()))
        self._lease = max(1, int(lease.total_seconds()))
        self._sent: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._remember = remember
        self._complained = -COMPLAIN_EVERY

    async def claim(self, key: str, to: str) -> bool:
        """True: send the mail now, then call `sent` (or `release` if it could not go out).
        False: it went out already. Raises `MailUnavailable` while another process sends it."""
        if (key, to) in self._sent:
            return False
        if self._redis is None:
            return True
        name, redis, call = redis_key(key, to), self._redis, self._breaker.call
        try:
            if await call(lambda: redis.set(name, SENDING, nx=True, ex=self._lease)):
                return True
            held = await call(lambda: redis.get(name))
            if held is None:  # the other claim ended in between: try once more
                return bool(await call(lambda: redis.set(name, SENDING, nx=True, ex=self._lease)))
        except RedisError as exc:
            self._complain(exc)
            return True  # this process's memory said it was not sent
        if held == SENT:
            self._remember_sent(key, to)
            return False
        raise MailUnavailable(f"another process is sending the mail {key} to {to} right now")

    async def sent(self, key: str, to: str) -> None:
        self._remember_sent(key, to)
        if (redis := self._redis) is not None:
            try:
                await self._breaker.call(lambda: redis.set(redis_key(key, to), SENT, ex=self._ttl))
            except RedisError as exc:
                self._complain(exc)

    async def release(self, key: str, to: str) -> None:
        if (redis := self._redis) is not None:
            try:
                await self._breaker.call(lambda: redis.delete(redis_key(key, to)))
            except RedisError as exc:
                self._complain(exc)  # the lease runs out by itself

    def _remember_sent(self, key: str, to: str) -> None:
        self._sent[(key, to)] = None
        self._sent.move_to_end((key, to))
        if len(self._sent) > self._remember:
            self._sent.popitem(last=False)

    def _complain(self, exc: RedisError) -> None:
        now = time.monotonic()
        if now - self._complained >= COMPLAIN_EVERY:
            self._complained = now
            log.warning("mail: 'already sent' record falls back to this process (Redis: %s)", exc)


def redis_key(key: str, to: str) -> str:
    """Addresses stay out of Redis key names: the pair is hashed."""
    return REDIS_PREFIX + hashlib.sha256(f"{key}\n{to}".encode()).hexdigest()
