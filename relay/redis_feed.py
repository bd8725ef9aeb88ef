"""Run-change notices shared by every replica through Redis pub/sub.

Each process publishes a small notice (tenant, run id, seq, status; never run data) for every run
change it commits, and hands the notices other processes published to whoever listens (the web
adapter's live run pages, which then reload the run through the engine).

The engine's commit path only records the latest notice per run in a bounded dict
(`on_change`); a background task publishes them in batches. A Redis outage is logged (at most
once a minute) and retried with backoff: notices of that time are dropped, never queued without
bound, and nothing waits on Redis. Each process still sees its own changes in memory, so a
listener here only gets what other processes committed (the process's own notices are dropped
by their origin id).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from engine import Event, RunState

log = logging.getLogger("countersign.relay")

CHANNEL = "countersign:runs"
BATCH = 500  # notices per published message
PENDING_LIMIT = 10_000  # runs with an unpublished notice; more are dropped (and counted)
READ_TIMEOUT = 30.0  # seconds a subscriber read waits before checking the connection again
STOP_TIMEOUT = 2.0  # seconds `stop` gives the last notices to go out
COMPLAIN_EVERY = 60.0  # seconds between two warnings about the same outage


@dataclass(frozen=True)
class RunNotice:
    tenant_id: str
    run_id: str
    seq: int
    status: str


NoticeCallback = Callable[[RunNotice], None]
GapCallback = Callable[[], None]


class _Complaints:
    """A warning per outage, then at most one a minute; one info line when it is over."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._last = -COMPLAIN_EVERY
        self._suppressed = 0
        self.down = False

    def failed(self, exc: BaseException) -> None:
        self.down = True
        now = time.monotonic()
        if now - self._last < COMPLAIN_EVERY:
            self._suppressed += 1
            return
        more = f" ({self._suppressed} more failures since the last warning)"
        more = more if self._suppressed else ""
        log.warning("relay: %s failed, other replicas' pages may lag: %s%s", self._what, exc, more)
        self._last, self._suppressed = now, 0

    def recovered(self) -> None:
        if self.down:
            log.info("relay: %s works again", self._what)
        self.down, self._suppressed, self._last = False, 0, -COMPLAIN_EVERY


def _backoff(failures: int) -> float:
    return float(min(30.0, 0.25 * 2 ** min(failures, 8)))


class RedisRunFeed:
    """Publishes this process's committed run changes and delivers other processes' ones.

    `on_change` is an engine listener (`Engine.subscribe(feed.on_change)`); `listen(callback)`
    receives `RunNotice`s committed elsewhere, called in the event loop (keep it quick), and
    `on_gap` is called when the subscription comes back after an outage: notices of that time
    are lost, so whoever shows runs should check them again.
    `start()` runs the publisher, the first `listen` the subscriber; `stop()` flushes briefly and
    ends both. The Redis client is the caller's (it closes it)."""

    def __init__(self, redis: Redis, *, channel: str = CHANNEL, origin: str | None = None) -> None:
        self._redis = redis
        self.channel = channel
        self.origin = origin or uuid.uuid4().hex
        self._pending: dict[tuple[str, str], RunNotice] = {}
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()
        self._listeners: list[NoticeCallback] = []
        self._gap_listeners: list[GapCallback] = []
        self._publisher: asyncio.Task[None] | None = None
        self._subscriber: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._ever_subscribed = False
        self._publishing = _Complaints("publishing run changes to Redis")
        self._receiving = _Complaints("listening to run changes in Redis")
        self.dropped = 0  # notices dropped because too many runs were waiting to be published

    # ------------------------------------------------------------ publishing

    async def on_change(self, state: RunState, _events: list[Event]) -> None:
        """The engine listener: remember the run's latest change; the publisher sends it."""
        key = (state.tenant_id, state.run_id)
        if key not in self._pending and len(self._pending) >= PENDING_LIMIT:
            self.dropped += 1
            return
        self._pending[key] = RunNotice(state.tenant_id, state.run_id, state.seq, state.status)
        self._wake.set()

    def start(self) -> None:
        if self._publisher is None:
            self._publisher = asyncio.create_task(self._publish_loop(), name="relay-publish")

    async def _publish_loop(self) -> None:
        failures = 0
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = list(self._pending.values()), {}
            if batch:
                try:
                    await self._publish(batch)
                except (RedisError, OSError) as exc:
                    self._publishing.failed(exc)
                    failures += 1
                except Exception as exc:  # never let the loop die: log it and go on
                    log.exception("relay: publishing failed")
                    self._publishing.failed(exc)
                    failures += 1
                else:
                    self._publishing.recovered()
                    failures = 0
            if self._closing.is_set():
                return
            if failures:  # changes meanwhile coalesce per run
                await self._pause(_backoff(failures))

    async def _publish(self, notices: list[RunNotice]) -> None:
        for start in range(0, len(notices), BATCH):
            chunk = notices[start : start + BATCH]
            runs = [[n.tenant_id, n.run_id, n.seq, n.status] for n in chunk]
            body = json.dumps({"origin": self.origin, "runs": runs}, separators=(",", ":"))
            await self._redis.publish(self.channel, body)

    # ------------------------------------------------------------ receiving

    def listen(self, callback: NoticeCallback, on_gap: GapCallback | None = None) -> None:
        self._listeners.append(callback)
        if on_gap is not None:
            self._gap_listeners.append(on_gap)
        if self._subscriber is None:
            self._subscriber = asyncio.create_task(self._subscribe_loop(), name="relay-subscribe")

    def unlisten(self, callback: NoticeCallback, on_gap: GapCallback | None = None) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(callback)
        if on_gap is not None:
            with contextlib.suppress(ValueError):
                self._gap_listeners.remove(on_gap)

    async def subscribed(self) -> None:
        """Return once the subscriber listens on the channel (tests, start-up checks)."""
        await self._subscribed.wait()

    async def _subscribe_loop(self) -> None:
        failures = 0
        while not self._closing.is_set():
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                while True:
                    message = await pubsub.get_message(timeout=READ_TIMEOUT)
                    if message is None:
                        continue
                    if message.get("type") == "subscribe":
                        # Also after redis-py reconnected by itself: a gap either way.
                        self._confirmed(after_failure=failures > 0)
                        failures = 0
                    elif message.get("type") == "message":
                        self._deliver(message["data"])
            except (RedisError, OSError) as exc:
                self._subscribed.clear()
                self._receiving.failed(exc)
                failures += 1
            except Exception as exc:  # never let the loop die: log it and go on
                log.exception("relay: listening failed")
                self._subscribed.clear()
                self._receiving.failed(exc)
                failures += 1
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()
            await self._pause(_backoff(failures))

    async def _pause(self, seconds: float) -> None:
        """Wait before trying Redis again; `stop` cuts it short."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    def _confirmed(self, *, after_failure: bool) -> None:
        self._subscribed.set()
        self._receiving.recovered()
        if self._ever_subscribed or after_failure:
            self._gap()
        self._ever_subscribed = True

    def _gap(self) -> None:
        for callback in list(self._gap_listeners):
            try:
                callback()
            except Exception:
                log.exception("relay: a listener failed after a gap")

    def _deliver(self, data: Any) -> None:
        try:
            body = json.loads(data)
            if body["origin"] == self.origin:
                return  # this process saw its own change in memory already
            notices = [RunNotice(str(t), str(r), int(s), str(st)) for t, r, s, st in body["runs"]]
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("relay: ignored a malformed message on %s: %s", self.channel, exc)
            return
        for notice in notices:
            for callback in list(self._listeners):
                try:
                    callback(notice)
                except Exception:
                    log.exception("relay: a listener failed for run %s", notice.run_id)

    # ------------------------------------------------------------ lifecycle

    async def stop(self) -> None:
        """Publish what is pending (for at most `STOP_TIMEOUT`), then end both loops."""
        self._closing.set()
        self._wake.set()
        tasks = [t for t in (self._publisher, self._subscriber) if t is not None]
        if self._publisher is not None:
            try:
                async with asyncio.timeout(STOP_TIMEOUT):
                    await asyncio.shield(self._publisher)
            except TimeoutError:
                log.warning("relay: run changes not published at shutdown: Redis is too slow")
            except Exception:
                log.exception("relay: the publisher had failed")
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._publisher = self._subscriber = None
