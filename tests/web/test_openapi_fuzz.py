"""schemathesis against the served OpenAPI document: no 5xx, every response matches the
documented status codes, content type and schema. Kept short (few examples per operation)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.testing import ManualClock
from storage import Storage
from tests.web.support import SIGNAL_FLOW, TENANT, Stack, approval_flow, web_stack

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    ]
)


@pytest.fixture
async def stack(storage: Storage, clock: ManualClock, tmp_path: Path) -> AsyncIterator[Stack]:
    # Approval long-polls and event streams end well within the fuzzer's request timeout.
    async with web_stack(storage, clock, tmp_path, approval_wait_max=1.0) as s:
        yield s


# On SQLite and PostgreSQL (the `stack` default): PostgreSQL refuses NUL characters that SQLite
# keeps, so a NUL that got through would be a 500 there only.
async def test_schemathesis_finds_no_server_errors_or_schema_violations(
    stack: Stack, tmp_path: Path
) -> None:
    await stack.apply(approval_flow("U0APPROVER"))
    await stack.apply(SIGNAL_FLOW)
    await stack.engine.start_run(TENANT, "purchase", {"item": "desk"}, "U0BOB")
    st = Path(sys.executable).parent / "st"
    process = await asyncio.create_subprocess_exec(
        str(st),
        "run",
        f"{stack.web.url}/api/v1/openapi.json",
        "--header",
        f"Authorization: Bearer {stack.api_key}",
        "--checks",
        CHECKS,
        "--max-examples",
        "8",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--seed",
        "1",
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--no-color",
        "--request-timeout",
        "10",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=tmp_path,
    )
    output, _ = await process.communicate()
    text = output.decode(errors="replace")
    assert process.returncode == 0, text[-6000:]
