"""With REDIS_URL set, `countersign serve` publishes each committed run change for the other
replicas: a notice (tenant, run, seq, status), never the run's data."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from redis.asyncio import Redis

from cli.settings import Settings
from cli.wiring import build, shutdown
from relay.redis_feed import CHANNEL

FLOW = """
name: wired
steps:
  - {id: manager, type: approval, approvers: ["U0BOB"]}
"""


async def test_serve_publishes_committed_changes_to_redis(redis_url: str, tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'wired.db'}",
        redis_url=redis_url,
        secret_key="k" * 32,
        outbox_mail_dir=tmp_path / "mail",
        http_port=0,
    )
    watcher = Redis.from_url(redis_url)
    pubsub = watcher.pubsub()
    await pubsub.subscribe(CHANNEL)
    parts = await build(settings)
    try:
        assert parts.web is not None and parts.feed is not None
        await parts.engine.apply_definition(parts.tenant, FLOW)
        run = await parts.engine.start_run(parts.tenant, "wired", {}, "U0REQ")
        async with asyncio.timeout(5):
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
                if message is None:
                    continue
                runs = json.loads(message["data"])["runs"]
                if any(r[1] == run.run_id for r in runs):
                    break
        notice = next(r for r in runs if r[1] == run.run_id)
        assert notice == [parts.tenant, run.run_id, run.seq, "running"]
    finally:
        await shutdown(parts)
        await pubsub.aclose()
        await watcher.aclose()
