"""The Slack workflow steps waiting on runs: kept per tenant, their token sealed at rest."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from engine.errors import SecretUnreadable
from storage import Storage
from storage.slack_functions import SqlFunctionSteps, slack_function_steps
from tests.conftest import TEST_SECRET_KEY

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


async def test_a_step_is_kept_per_workspace_and_its_token_is_sealed(storage: Storage) -> None:
    steps = SqlFunctionSteps(storage.engine, lambda: TEST_SECRET_KEY)
    assert await steps.get("T1", "Fx1") is None
    await steps.put("T1", "Fx1", "get_approval", "xwfp-secret-1", NOW)
    await steps.put("T2", "Fx1", "run_workflow", "xwfp-other-tenant", NOW)  # another workspace

    found = await steps.get("T1", "Fx1")
    assert found is not None
    assert (found.execution_id, found.callback_id, found.token) == (
        "Fx1",
        "get_approval",
        "xwfp-secret-1",
    )
    assert not found.completed
    async with storage.engine.connect() as conn:
        sealed = (await conn.execute(select(slack_function_steps.c.token))).scalars().all()
    assert all(b"xwfp" not in blob for blob in sealed)

    await steps.refresh_token("T1", "Fx1", "xwfp-fresh")
    await steps.completed("T1", "Fx1", NOW)
    again = await steps.get("T1", "Fx1")
    assert again is not None and again.token == "xwfp-fresh" and again.completed


async def test_another_key_cannot_open_a_token(storage: Storage) -> None:
    await SqlFunctionSteps(storage.engine, lambda: TEST_SECRET_KEY).put(
        "T1", "Fx1", "get_approval", "xwfp-1", NOW
    )
    other = SqlFunctionSteps(storage.engine, lambda: "another key")
    with pytest.raises(SecretUnreadable, match="SECRET_KEY changed since the step started"):
        await other.get("T1", "Fx1")
