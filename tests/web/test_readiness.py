"""/readyz says why the process is not ready: database unreachable or migrations pending."""

from __future__ import annotations

import aiohttp
import pytest

from engine.runtime.service import Engine
from engine.testing import ManualClock, MemoryStorage, memory_access_stores
from tests.web.support import SECRET
from web.config import WebConfig
from web.service import start_web


class Probe:
    def __init__(self, answer: bool | Exception) -> None:
        self.answer = answer

    async def is_current(self) -> bool:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.mark.parametrize(
    "answer, status, says",
    [
        (True, 200, "current"),
        (False, 503, "migrations pending"),
        (ConnectionRefusedError("no"), 503, "not reachable"),
    ],
)
async def test_readiness(
    clock: ManualClock, answer: bool | Exception, status: int, says: str
) -> None:
    engine = Engine.from_storage(MemoryStorage(), clock=clock)
    config = WebConfig(secret_key=SECRET, port=0)
    service = await start_web(
        engine, engine.router, config, memory_access_stores(), readiness=Probe(answer)
    )
    try:
        async with aiohttp.ClientSession() as http, http.get(service.url + "/readyz") as r:
            assert r.status == status
            assert says in (await r.json())["database"]
        async with aiohttp.ClientSession() as http, http.get(service.url + "/healthz") as r:
            assert r.status == 200
    finally:
        await service.stop()
