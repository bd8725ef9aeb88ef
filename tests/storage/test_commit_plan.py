"""The PostgreSQL writer reuses compiled SQL per plan shape and computes the parameters apart:
both ways must bind exactly the same values under the same names."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.dialects import postgresql

from engine.commands import Timer
from storage.commit import plan_commit
from storage.commit_pg import bind_values, combined_statement
from tests.storage.builders import T0, approve, new_run


def test_bind_values_match_the_statement_built_for_the_plan() -> None:
    started = [new_run("r1"), new_run("r2", approvers=("U_A",))]
    approved = approve(started[1].state, done_command="r2:manager:ask:U_A", fired_timer="old")
    approved.decision.timers.append(
        Timer(id="t", tenant_id="T1", run_id="r2", due_at=T0 + timedelta(hours=1), kind="wait")
    )
    for changes in (
        started,
        [approved],
        [started[0], approved],
        [new_run("r3"), approve(new_run("r3").state)],
    ):
        stmt, values = combined_statement(plan_commit(changes))
        assert bind_values(plan_commit(changes)) == values
        compiled = stmt.compile(dialect=postgresql.asyncpg.dialect())
        assert set(compiled.positiontup or ()) == set(values)
