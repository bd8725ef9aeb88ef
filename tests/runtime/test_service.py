"""The facade's own rules: starting runs (inputs, idempotency, disabled workflows), version
pinning across an apply, and reading runs back."""

from __future__ import annotations

import asyncio

import pytest

from engine.errors import (
    DefinitionError,
    IdempotencyConflict,
    InvalidInput,
    NotFound,
    WorkflowDisabled,
)
from engine.runtime.service import Engine
from tests.runtime.conftest import TENANT, Target, setup

V1 = """
name: pinned
inputs:
  - {id: amount, type: number, required: true, min: 1}
steps:
  - id: ok
    type: approval
    approvers: [UBOSS]
  - id: call
    type: http
    url: TARGET/v1
"""
V2 = V1.replace("TARGET/v1", "TARGET/v2")


async def test_a_run_keeps_its_version_after_a_new_one_is_applied(
    engine: Engine, target: Target
) -> None:
    await setup(engine, target, V1)
    old = await engine.start_run(TENANT, "pinned", {"amount": 5}, "UREQ")
    await engine.run_until_idle()
    applied = await engine.apply_definition(TENANT, V2.replace("TARGET", target.url))
    assert (applied.version, applied.created) == (2, True)
    new = await engine.start_run(TENANT, "pinned", {"amount": 5}, "UREQ")
    await engine.run_until_idle()

    await engine.decide(TENANT, old.run_id, "ok", "UBOSS", "approve")
    await engine.decide(TENANT, new.run_id, "ok", "UBOSS", "approve")
    await engine.run_until_idle()
    assert (old.version, new.version) == (1, 2)
    assert target.paths() == ["POST /v1", "POST /v2"]
    assert [d.version for d in await engine.list_definitions(TENANT)] == [2]
    assert (await engine.get_definition(TENANT, "pinned", 1)).source.count("/v1") == 1


async def test_applying_the_same_definition_again_changes_nothing(
    engine: Engine, target: Target
) -> None:
    await setup(engine, target, V1)
    again = await engine.apply_definition(TENANT, V1.replace("TARGET", target.url))
    assert (again.version, again.created) == (1, False)


async def test_an_invalid_definition_is_refused_with_its_line(engine: Engine) -> None:
    with pytest.raises(
        DefinitionError, match=r"flow.yaml:3: steps.0: unknown step type .teleport."
    ):
        await engine.apply_definition(
            TENANT, "name: broken\nsteps:\n  - id: a\n    type: teleport\n", "flow.yaml"
        )


async def test_inputs_are_validated_and_typed(engine: Engine, target: Target) -> None:
    await setup(engine, target, V1)
    with pytest.raises(InvalidInput) as refused:
        await engine.start_run(TENANT, "pinned", {"amount": 0, "extra": 1}, "UREQ")
    assert set(refused.value.errors) == {"amount", "extra"}
    run = await engine.start_run(TENANT, "pinned", {"amount": "12"}, "UREQ")
    assert run.inputs == {"amount": 12}


async def test_unknown_and_disabled_workflows_start_nothing(engine: Engine, target: Target) -> None:
    with pytest.raises(NotFound):
        await engine.start_run(TENANT, "nope", {}, "UREQ")
    await setup(engine, target, V1)
    await engine.set_disabled(TENANT, "pinned", True)
    with pytest.raises(WorkflowDisabled, match="workflow 'pinned' is disabled"):
        await engine.start_run(TENANT, "pinned", {"amount": 5}, "UREQ")
    assert (await engine.list_runs(TENANT)).runs == []


async def test_an_idempotency_key_starts_one_run_only(engine: Engine, target: Target) -> None:
    await setup(engine, target, V1)
    first = await engine.start_run(TENANT, "pinned", {"amount": 5}, "UREQ", idempotency_key="k1")
    same = await asyncio.gather(
        *(
            engine.start_run(TENANT, "pinned", {"amount": 5}, "UREQ", idempotency_key="k1")
            for _ in range(3)
        )
    )
    assert {s.run_id for s in same} == {first.run_id}
    other = await engine.start_run(TENANT, "pinned", {"amount": 5}, "UREQ", idempotency_key="k2")
    assert other.run_id != first.run_id
    assert len((await engine.list_runs(TENANT)).runs) == 2


async def test_an_idempotency_key_reused_for_another_request_is_refused(
    engine: Engine, target: Target
) -> None:
    await setup(engine, target, V1)
    first = await engine.start_run(TENANT, "pinned", {"amount": 5}, "UREQ", idempotency_key="k")
    for workflow, inputs, requester, callback in [
        ("pinned", {"amount": 6}, "UREQ", None),
        ("pinned", {"amount": 5}, "UOTHER", None),
        ("pinned", {"amount": 5}, "UREQ", "https://example.com/done"),
    ]:
        with pytest.raises(IdempotencyConflict, match=f"already started run {first.run_id}"):
            await engine.start_run(
                TENANT, workflow, inputs, requester, callback_url=callback, idempotency_key="k"
            )
    again = await engine.start_run(TENANT, "pinned", {"amount": 5}, "UREQ", idempotency_key="k")
    assert again.run_id == first.run_id
    assert len((await engine.list_runs(TENANT)).runs) == 1


async def test_concurrent_starts_with_one_key_agree(engine: Engine, target: Target) -> None:
    await setup(engine, target, V1)
    runs = await asyncio.gather(
        *(
            engine.start_run(TENANT, "pinned", {"amount": 5}, "UREQ", idempotency_key="same")
            for _ in range(5)
        )
    )
    assert len({r.run_id for r in runs}) == 1
    assert len((await engine.list_runs(TENANT)).runs) == 1


async def test_run_ids_sort_by_start_time(engine: Engine, target: Target) -> None:
    await setup(engine, target, V1)
    ids = [
        (await engine.start_run(TENANT, "pinned", {"amount": 1}, "UREQ")).run_id for _ in range(5)
    ]
    assert ids == sorted(ids) and len(set(ids)) == 5
    assert all(i.startswith("r") and len(i) == 27 for i in ids)
    page = await engine.list_runs(TENANT, limit=3)
    assert len(page.runs) == 3 and page.next_cursor is not None
