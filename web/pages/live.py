"""Live run pages over Server-Sent Events: the engine calls `LiveHub.on_change` after every
change this process commits, and the run feed (`web.ports.RunFeed`, Redis pub/sub when
configured) calls `LiveHub.on_notice` for changes other replicas commit. Each open run page
holds a queue and gets a `changed` event (with the run's new seq, each seq once and in
increasing order), upon which its script re-fetches the page's live fragment through the
engine. When the feed comes back after an outage, every open stream reloads its run once and
says `changed` if it moved meanwhile. Without a feed, changes committed by another replica are
not seen here (the page catches up on its next change or reload)."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

from aiohttp import web

from engine import Event, RunState
from web.pages.common import require_session
from web.pages.dashboard import load_visible_run
from web.ports import RunNotice

log = logging.getLogger("countersign.web")
HEARTBEAT = 15.0  # seconds: keeps proxies from closing an idle stream
RECHECK = -1  # queued after a gap in the run feed: the stream reloads its run to see if it moved
Key = tuple[str, str]


class LiveHub:
    def __init__(self) -> None:
        self._queues: dict[Key, set[asyncio.Queue[int | None]]] = defaultdict(set)
        # The newest state this process committed of each run someone follows: a waiter woken
        # by its change takes it from here instead of reading the run back (see `latest`).
        self._states: dict[Key, RunState] = {}
        self.closed = False

    async def on_change(self, state: RunState, _events: list[Event]) -> None:
        key = (state.tenant_id, state.run_id)
        if key in self._queues:
            known = self._states.get(key)
            if known is None or known.seq < state.seq:
                self._states[key] = state
        self._push(key, state.seq)

    def latest(self, key: Key, seq: int) -> RunState | None:
        """The run as this process committed it at `seq` or later, if it did while followed;
        None: read it (e.g. another replica's change, heard only as a notice)."""
        state = self._states.get(key)
        return state if state is not None and state.seq >= seq else None

    def on_notice(self, notice: RunNotice) -> None:
        """A change committed by another process (from the run feed)."""
        self._push((notice.tenant_id, notice.run_id), notice.seq)

    def on_gap(self) -> None:
        """The run feed was down: changes from other processes may have been missed."""
        for queues in self._queues.values():
            for queue in queues:
                queue.put_nowait(RECHECK)

    def _push(self, key: Key, seq: int) -> None:
        for queue in self._queues.get(key, ()):
            queue.put_nowait(seq)

    def open(self, key: Key) -> asyncio.Queue[int | None]:
        queue: asyncio.Queue[int | None] = asyncio.Queue()
        self._queues[key].add(queue)
        return queue

    def watchers(self, key: Key) -> int:
        """How many streams and waits follow this run now."""
        return len(self._queues.get(key, ()))

    def close(self, key: Key, queue: asyncio.Queue[int | None]) -> None:
        queues = self._queues.get(key)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self._queues[key]
                self._states.pop(key, None)

    def shutdown(self) -> None:
        """End every open stream (the server is stopping)."""
        self.closed = True
        for queues in self._queues.values():
            for queue in queues:
                queue.put_nowait(None)


HUB: web.AppKey[LiveHub] = web.AppKey("live_hub", LiveHub)


async def run_events(request: web.Request) -> web.StreamResponse:
    session = await require_session(request)
    hub = request.app[HUB]
    key = (session.tenant_id, request.match_info["run_id"])
    queue = hub.open(key)  # before loading, so no change falls between the two
    try:
        run = await load_visible_run(request, session)
    except BaseException:
        hub.close(key, queue)
        raise
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
    )
    try:
        await response.prepare(request)
        await response.write(f"retry: 2000\nevent: hello\ndata: {run.seq}\n\n".encode())
        shown = run.seq
        while not hub.closed:
            try:
                seq = await asyncio.wait_for(queue.get(), HEARTBEAT)
            except TimeoutError:
                await response.write(b": ping\n\n")
                continue
            if seq is None:
                break
            if seq == RECHECK:
                try:
                    seq = (await load_visible_run(request, session)).seq
                except Exception as exc:  # e.g. the database is away too: the next change tells
                    log.warning("live page of run %s not rechecked: %s", key[1], exc)
                    continue
            if seq <= shown:
                continue  # already shown (e.g. a replica's notice after a later change here)
            shown = seq
            await response.write(f"event: changed\ndata: {seq}\n\n".encode())
    except ConnectionResetError:
        pass  # the browser went away
    finally:
        hub.close(key, queue)
    return response


def add_live_routes(app: web.Application) -> None:
    app.router.add_get("/runs/{run_id}/events", run_events)
