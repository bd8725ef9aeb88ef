"""Disabling a scheduled workflow over the API stops its schedule, as the CLI does."""

from __future__ import annotations

from datetime import timedelta

from tests.schedules.conftest import workflow
from tests.web.support import TENANT, Stack
from tests.web.test_api import call


async def test_a_workflow_disabled_over_the_api_comes_back_with_its_next_fire_ahead(
    stack: Stack,
) -> None:
    """Disabling removes the schedule's timer (as `countersign workflows disable` does), so once
    enabled again the workflow fires next from now: no run for the hours it was off, and no
    next fire shown in the past."""
    source = workflow("every: 1h\ninputs: {region: emea}")
    async with stack.client(stack.api_key) as http:
        status, _ = await call(http, "POST", "/workflows", json={"source": source})
        assert status == 201
        status, body = await call(http, "POST", "/workflows/report/disable")
        assert (status, body["disabled"]) == (200, True)

        stack.clock.advance(timedelta(hours=5))
        await stack.engine.run_until_idle()
        status, body = await call(http, "POST", "/workflows/report/enable")
        assert (status, body["disabled"]) == (200, False)
        await stack.engine.run_until_idle()

        assert (await stack.engine.list_runs(TENANT)).runs == []
        [schedule] = await stack.engine.list_schedules(TENANT)
        assert schedule.next_fire is not None and schedule.next_fire > stack.clock.now()
