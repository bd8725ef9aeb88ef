"""Command keys: what a refresh command says of the change that issued it."""

from __future__ import annotations

from engine.commands import CallHttp, RunChanged, UpdateApproval
from engine.decider import keys
from engine.definitions.models import HttpAction


def test_refresh_commands_name_the_seq_they_were_issued_after() -> None:
    update = UpdateApproval(
        key=keys.update_key("R1", "ok", 7), tenant_id="T", run_id="R1", step_id="ok"
    )
    changed = RunChanged(
        key=keys.run_changed_key("R1", 12), tenant_id="T", run_id="R1", status="completed"
    )
    assert keys.refresh_seq(update) == 7
    assert keys.refresh_seq(changed) == 12


def test_other_commands_name_none_even_when_their_key_looks_alike() -> None:
    # An http step called "changed": its attempt key reads like a run_changed key.
    call = CallHttp(
        key=keys.attempt_key("R1", "changed", 3),
        tenant_id="T",
        run_id="R1",
        step_id="changed",
        attempt=3,
        action=HttpAction(url="https://example.com"),
        context={},
    )
    assert keys.refresh_seq(call) is None
