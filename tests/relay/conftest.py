"""Two "replicas" of Countersign in one test process: each its own storage connection, engine,
Redis client and run feed, on one PostgreSQL schema and one Redis (a pub/sub channel per test).

Redis is at TEST_REDIS_URL (default 127.0.0.1:6379): when it does not answer the tests are
skipped, except under CI=true, where that is a failure (as for PostgreSQL in tests/conftest.py).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from engine.runtime.service import Engine
from engine.testing import ManualClock
from relay.redis_feed import RedisRunFeed
from storage import open_storage
from storage.access import sql_access_stores
from tests.conftest import empty_database
from tests.web.forms import csrf_of
from web.config import WebConfig
from web.service import WebService, start_web

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
DEAD_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there: an outage
TENANT = "T0RELAY"
SECRET = "relay-test-secret-0123456789abcdef"


@pytest.fixture
async def redis_url() -> str:
    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis at {REDIS_URL} does not answer: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} does not answer: {exc}")
    finally:
        await client.aclose()
    return REDIS_URL


@pytest.fixture
async def postgres_url(tmp_path: Path) -> AsyncIterator[str]:
    async with empty_database("postgres", tmp_path) as url:
        yield url


@pytest.fixture
def channel() -> str:
    return f"countersign:test:{uuid.uuid4().hex}"  # tests running side by side stay apart


@dataclass
class Replica:
    engine: Engine
    feed: RedisRunFeed
    redis: Redis
    web: WebService

    @asynccontextmanager
    async def browser(self, principal: str) -> AsyncIterator[aiohttp.ClientSession]:
        """A signed-in dashboard session of `principal` on this replica's web server."""
        jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1
        async with aiohttp.ClientSession(base_url=self.web.url, cookie_jar=jar) as client:
            path = self.web.sign_in_url(TENANT, principal).removeprefix(self.web.config.base_url)
            async with client.get(path) as r:
                form = {"csrf": csrf_of(await r.text())}
            async with client.post(path, data=form, allow_redirects=False) as r:
                assert r.status == 303
            yield client


@asynccontextmanager
async def replica(
    database_url: str, redis_url: str, channel: str, clock: ManualClock, mail_dir: Path
) -> AsyncIterator[Replica]:
    """One process's worth of Countersign, wired as `cli.wiring` does with REDIS_URL set."""
    async with AsyncExitStack() as stack:
        storage = await open_storage(database_url, create=True)
        stack.push_async_callback(storage.close)
        redis = Redis.from_url(
            redis_url,
            socket_connect_timeout=0.5,
            socket_timeout=2,
            client_name=f"relay-test-{uuid.uuid4().hex[:12]}",
        )
        stack.push_async_callback(redis.aclose)
        engine = Engine.from_storage(storage, clock=clock)
        stack.push_async_callback(engine.stop)
        feed = RedisRunFeed(redis, channel=channel)
        engine.subscribe(feed.on_change)
        feed.start()
        stack.push_async_callback(feed.stop)
        config = WebConfig(
            secret_key=SECRET, host="127.0.0.1", port=0, outbox_mail_dir=str(mail_dir)
        )
        web = await start_web(
            engine,
            engine.router,
            config,
            sql_access_stores(storage.engine),
            feed=feed,
            redis=redis,
        )
        stack.push_async_callback(web.stop)
        yield Replica(engine, feed, redis, web)
