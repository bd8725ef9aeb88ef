"""Audit evidence benchmark: `python -m bench.audit_evidence`.

On PostgreSQL (a fresh schema, dropped after) and on SQLite (a temporary file):
  1. a one-run bundle as the workspace grows: its size and the time to build and to verify it,
     with inclusion proofs (format /2, what `--run` and the REST download write) side by side
     with every checkpoint leaf listed (format /1);
  2. what recording what was shown costs: `Engine.record_shown` of a rendering whose content
     changed (one `request_shown` event committed), of the same rendering again (a redraw:
     decided, nothing committed), beside a decision, each per call over waiting runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cli.audit_log import build_bundle, checkpoint_now
from engine import Shown, verify_bundle
from engine.runtime.service import Engine
from storage import open_storage

PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
TENANT = "TBENCH"
FLOW = """\
name: access
steps:
  - id: owners
    type: approval
    approvers: [U01]
"""
SIZES = (10, 100, 1_000, 5_000)
SHOWN_RUNS = 300


def _card(run_id: str, text: str) -> list[Shown]:
    return [Shown("owners", "U01", "slack", "slack card", text, {"notification": run_id})]


async def _timed(calls: Sequence[Callable[[], Awaitable[object]]]) -> float:
    """Median ms per call, calls made one after another."""
    took = []
    for call in calls:
        start = time.perf_counter()
        await call()
        took.append((time.perf_counter() - start) * 1000)
    return statistics.median(took)


async def measure(url: str, label: str) -> None:
    storage = await open_storage(url, create=True)
    try:
        engine = Engine.from_storage(storage)
        key = Ed25519PrivateKey.generate()
        await engine.apply_definition(TENANT, FLOW)
        first = (await engine.start_run(TENANT, "access", {}, "U02")).run_id
        have = 1
        print(f"\n{label}: one-run bundle as the workspace grows")
        print("  runs | proofs: bytes, build, verify | every leaf: bytes, build, verify")
        for n in SIZES:
            await asyncio.gather(
                *(engine.start_run(TENANT, "access", {}, "U02") for _ in range(n - have))
            )
            have = n
            await checkpoint_now(storage, key, TENANT)
            row = []
            for proofs in (True, False):
                start = time.perf_counter()
                bundle = await build_bundle(storage, TENANT, key, [first], proofs=proofs)
                built = (time.perf_counter() - start) * 1000
                start = time.perf_counter()
                assert verify_bundle(bundle).ok
                checked = (time.perf_counter() - start) * 1000
                size = len(json.dumps(bundle, separators=(",", ":")))
                row.append(f"{size:>8,} B {built:6.0f} ms {checked:6.0f} ms")
            print(f"  {n:>5} | {row[0]} | {row[1]}")

        runs = [
            (await engine.start_run(TENANT, "access", {}, "U02")).run_id for _ in range(SHOWN_RUNS)
        ]
        show = [partial(engine.record_shown, TENANT, r, _card(r, "v1")) for r in runs]
        changed = await _timed(show)
        again = await _timed(show)  # the same renderings again: a redraw
        decided = await _timed(
            [partial(engine.decide, TENANT, r, "owners", "U01", "approve") for r in runs]
        )
        print(f"{label}: per call over {SHOWN_RUNS} waiting runs (median)")
        print(
            f"  record_shown, content changed: {changed:.2f} ms; same content again: "
            f"{again:.2f} ms; a decision: {decided:.2f} ms "
            f"(changed/decision {changed / decided:.2f})"
        )
    finally:
        await storage.close()


async def main() -> None:
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    schema = f"bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(PG_DSN)
    await admin.execute(f"CREATE SCHEMA {schema}")
    try:
        await measure(f"{PG_URL}?search_path={schema}", "PostgreSQL")
    finally:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()
    with tempfile.TemporaryDirectory() as tmp:
        await measure(f"sqlite+aiosqlite:///{tmp}/bench.db", "SQLite")
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    asyncio.run(main())
