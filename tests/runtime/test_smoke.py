from __future__ import annotations

from engine.runtime.service import Engine
from tests.runtime.conftest import TENANT, Target

FLOW = """
name: three
inputs:
  - id: n
    type: number
    required: true
steps:
  - id: a
    type: http
    url: TARGET/a
    json: {n: "{{ inputs.n }}"}
  - id: b
    type: http
    url: TARGET/b?token={{ secrets.TOKEN }}
  - id: c
    type: notify
    message: "done {{ steps.a.response.id }}"
"""


async def test_three_steps(engine: Engine, target: Target) -> None:
    await engine.apply_definition(TENANT, FLOW.replace("TARGET", target.url))
    run = await engine.start_run(TENANT, "three", {"n": 3}, "UREQ")
    await engine.run_until_idle()
    run = await engine.get_run(TENANT, run.run_id)
    assert run.status == "completed", run
    assert target.paths() == ["POST /a", "POST /b"]
    # Every command was marked done, nothing is left to redeliver.
    assert await engine.outbox.pending_count(engine.clock.now()) == (0, 0.0)
