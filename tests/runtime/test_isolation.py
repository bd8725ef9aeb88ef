"""Failure isolation: one command whose outcome cannot be recorded as it came, or one change the
database refuses, never holds back other tenants' runs, never makes their endpoints be called
again, and never lends them its error. Only the offender fails, with its own clear reason."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from engine.commands import CallHttp, Command
from engine.errors import Unrecordable
from engine.ports import Outcome, RunChange, Succeeded
from engine.runtime.dispatcher import MAX_ATTEMPTS, MAX_RETRY_DELAY
from engine.runtime.group_commit import GroupCommitter
from engine.runtime.service import Engine
from engine.testing import ManualClock, MemoryStorage
from engine.timeline import describe
from outbound.http import HttpHandler
from storage import Storage
from storage.schema import outbox
from tests.runtime.conftest import local_server
from tests.storage.builders import new_run

OTHERS = 30
TWO_CALLS = """
name: two-calls
steps:
  - id: call
    type: http
    url: URL/PATH
  - id: after
    type: http
    url: "URL/after?got={{ steps.call.response.id }}"
"""


class Service:
    """Answers /bad with JSON that holds a lone surrogate and a NUL character (valid JSON text,
    not text any store can keep), every other path with a plain id; counts calls per
    (path, idempotency key)."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str | None]] = Counter()
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.calls[(request.path, request.headers.get("Idempotency-Key"))] += 1
        if request.path == "/bad":
            return web.Response(text='{"id": "\\ud800x\\u0000y"}', content_type="application/json")
        return web.json_response({"id": "ok"})


@pytest.fixture
async def service() -> AsyncIterator[Service]:
    found = Service()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", found.handle)
    async with local_server(app) as found.url:
        yield found


async def start_tenants(engine: Engine, service: Service) -> dict[str, str]:
    """One run of two http calls in each of 31 workspaces; TBAD's first call goes to /bad."""
    runs = {}
    for tenant in ["TBAD", *(f"T{i:02}" for i in range(OTHERS))]:
        path = "bad" if tenant == "TBAD" else f"ok-{tenant}"
        await engine.apply_definition(
            tenant, TWO_CALLS.replace("URL", service.url).replace("PATH", path)
        )
        runs[tenant] = (await engine.start_run(tenant, "two-calls", {}, "UREQ")).run_id
    return runs


async def outbox_errors(stores: MemoryStorage | Storage) -> dict[str, str]:
    """Outbox key -> last error, for the rows that carry one."""
    if isinstance(stores, MemoryStorage):
        rows = stores.outbox._rows.values()
        return {r.command.key: r.last_error for r in rows if r.last_error is not None}
    async with stores.engine.connect() as conn:
        found = await conn.execute(select(outbox.c.key, outbox.c.last_error))
    return {key: error for key, error in found if error is not None}


async def assert_others_unharmed(
    engine: Engine, stores: MemoryStorage | Storage, runs: dict[str, str], service: Service
) -> None:
    for tenant, run_id in runs.items():
        if tenant != "TBAD":
            assert (await engine.get_run(tenant, run_id)).status == "completed", tenant
    # Every endpoint was called once per idempotency key: nobody's call went out again.
    assert set(service.calls.values()) == {1}
    assert {path for path, _ in service.calls} >= {f"/ok-T{i:02}" for i in range(OTHERS)}
    # No outbox row carries an error, least of all another command's.
    assert not {k for k in await outbox_errors(stores) if not k.startswith(runs["TBAD"])}


async def test_an_outcome_with_lone_surrogates_is_cleaned_and_holds_back_no_one(
    engine: Engine, store_backend: MemoryStorage | Storage, service: Service
) -> None:
    runs = await start_tenants(engine, service)
    await engine.run_until_idle()
    await assert_others_unharmed(engine, store_backend, runs, service)
    assert len(service.calls) == 2 * (OTHERS + 1)

    bad = await engine.get_run("TBAD", runs["TBAD"])
    assert bad.status == "completed"
    assert bad.steps["call"].output["response"] == {"id": "\ufffdxy"}
    lines = [describe(e.event) for e in await engine.timeline("TBAD", runs["TBAD"])]
    assert (
        "note on step call: the outcome was cleaned to be stored: "
        "1 lone surrogate replaced with U+FFFD; 1 NUL character removed"
    ) in lines
    assert await engine.dead_commands() == []


class Binary:
    """call_http, except that TBAD's first call answers with bytes that are not text: an
    outcome no cleaning makes storable."""

    def __init__(self, http: HttpHandler) -> None:
        self.http = http

    async def perform(self, command: Command) -> Outcome:
        outcome = await self.http.perform(command)
        assert isinstance(command, CallHttp)
        if command.tenant_id == "TBAD" and command.step_id == "call":
            return Succeeded({"status": 200, "response": b"\xff\xfe"})
        return outcome


async def test_an_outcome_that_cannot_be_stored_fails_only_its_own_step(
    engine: Engine, store_backend: MemoryStorage | Storage, service: Service, http: HttpHandler
) -> None:
    engine.register("call_http", Binary(http))
    runs = await start_tenants(engine, service)
    await engine.run_until_idle()
    await assert_others_unharmed(engine, store_backend, runs, service)

    bad = await engine.get_run("TBAD", runs["TBAD"])
    assert (bad.status, bad.steps["call"].status) == ("failed", "failed")
    reason = "its outcome cannot be stored: steps.call.output.response: is binary data, not text"
    lines = [describe(e.event) for e in await engine.timeline("TBAD", runs["TBAD"])]
    assert f"step call failed: {reason}" in lines

    [dead] = await engine.dead_commands()
    assert (dead.tenant_id, dead.run_id, dead.step_id) == ("TBAD", runs["TBAD"], "call")
    assert (dead.type, dead.attempts, dead.last_error) == ("call_http", 1, reason)
    assert await engine.dead_commands("T00") == []
    assert await outbox_errors(store_backend) == {f"{runs['TBAD']}:call:1": reason}

    # Put back, it is performed again with the same key; its run has moved on, so the late
    # outcome is only retired.
    retried = await engine.retry_command(dead.id)
    assert retried.id == dead.id
    await engine.run_until_idle()
    assert service.calls[("/bad", f"{runs['TBAD']}:call:1")] == 2
    assert await engine.dead_commands() == []
    assert (await engine.get_run("TBAD", runs["TBAD"])).status == "failed"


class Recorded:
    """The run store, remembering how many changes each commit carried."""

    def __init__(self, runs: Any) -> None:
        self.runs = runs
        self.commits: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.runs, name)

    async def commit(self, changes: Sequence[RunChange]) -> None:
        self.commits.append(len(changes))
        await self.runs.commit(changes)


def with_inputs(change: RunChange, **inputs: Any) -> RunChange:
    change.state = change.state.model_copy(update={"inputs": inputs})
    return change


async def test_a_change_the_store_refuses_fails_only_its_own_caller(
    store_backend: MemoryStorage | Storage, request: pytest.FixtureRequest
) -> None:
    postgres = "postgres" in request.node.callspec.id
    runs = Recorded(store_backend.runs)
    group = GroupCommitter(runs, parallel=1)
    changes = [new_run(f"ok{i}", f"T{i}") for i in range(12)]
    changes[3] = with_inputs(new_run("surrogate", "T3"), vendor="Ac\ud800me")
    changes[7] = new_run("nul", "T7", requester="U0\x00BAD")  # a column of its own
    changes[9] = new_run("nul-approver", "T9", approvers=("U0\x00A",))
    results = await asyncio.gather(*(group.commit(c) for c in changes), return_exceptions=True)

    assert runs.commits[0] == len(changes)  # one group; only its failure paid for the split
    errors = {c.state.run_id: r for c, r in zip(changes, results, strict=True) if r is not None}
    assert all(isinstance(e, Unrecordable) for e in errors.values())
    expected = {"surrogate": "inputs.vendor: contains a lone surrogate (not valid Unicode)"}
    if postgres:  # PostgreSQL cannot keep a NUL character in text; the others can
        expected["nul"] = "requester: contains a NUL character"
        expected["nul-approver"] = "steps.manager.approvers.0: contains a NUL character"
    assert {run: str(e) for run, e in errors.items()} == expected
    for change in changes:
        tenant, run_id = change.state.tenant_id, change.state.run_id
        if run_id not in expected:
            assert (await store_backend.runs.load(tenant, run_id)).seq == 2


ASK = """
name: ask
inputs:
  - {id: vendor, type: text, required: true}
steps:
  - id: manager
    type: approval
    approvers: [U0BOB]
"""


async def test_a_start_with_text_no_store_keeps_is_refused_before_any_query(
    engine: Engine,
) -> None:
    await engine.apply_definition("T1", ASK)
    for inputs, requester, key, message in [
        ({"vendor": "Ac\x00me"}, "UREQ", None, "inputs.vendor: contains a NUL character"),
        (
            {"vendor": "Ac\udfffme"},
            "UREQ",
            None,
            "inputs.vendor: contains a lone surrogate (not valid Unicode)",
        ),
        ({"vendor": "Acme"}, "U\x00REQ", None, "requester: contains a NUL character"),
        ({"vendor": "Acme"}, "UREQ", "k\x00", "idempotency_key: contains a NUL character"),
    ]:
        with pytest.raises(Unrecordable) as refused:
            await engine.start_run("T1", "ask", inputs, requester, idempotency_key=key)
        assert refused.value.message == message
    assert (await engine.list_runs("T1")).runs == []


async def test_concurrent_starts_succeed_beside_one_the_database_refuses(
    store_backend: MemoryStorage | Storage, request: pytest.FixtureRequest
) -> None:
    """A requester too long for its column passes every check before the commit; PostgreSQL
    refuses it, in a group with valid starts of other requests."""
    postgres = "postgres" in request.node.callspec.id
    runs = Recorded(store_backend.runs)
    engine = Engine(
        definitions=store_backend.definitions,
        runs=runs,
        outbox=store_backend.outbox,
        timers=store_backend.timers,
        aways=store_backend.aways,
    )
    await engine.apply_definition("T1", ASK)
    await engine.start_run("T1", "ask", {"vendor": "warm-up"}, "UREQ")
    requesters = [f"U{i:02}" for i in range(20)]
    requesters[7] = "U" * 400
    results = await asyncio.gather(
        *(engine.start_run("T1", "ask", {"vendor": "Acme"}, who) for who in requesters),
        return_exceptions=True,
    )
    assert max(runs.commits) > 1  # starts arriving together share a transaction
    bad = results.pop(7)
    if postgres:
        assert isinstance(bad, Unrecordable)
        assert "cannot be stored: value too long" in bad.message
    else:
        assert not isinstance(bad, Exception)
    assert all(not isinstance(r, Exception) for r in results)
    stored = {run.requester for run in (await engine.list_runs("T1", limit=100)).runs}
    assert stored >= set(requesters) - {"U" * 400}


class Poisoned(Recorded):
    """The run store, failing (like a bug would) every commit that records the outcome of
    `key`, whatever else it holds."""

    def __init__(self, runs: Any, key: str) -> None:
        super().__init__(runs)
        self.key = key

    async def commit(self, changes: Sequence[RunChange]) -> None:
        if any(change.done_command == self.key for change in changes):
            raise RuntimeError("the store choked")
        await super().commit(changes)


async def test_an_outcome_that_keeps_failing_to_record_is_given_up_after_bounded_attempts(
    store_backend: MemoryStorage | Storage, service: Service, http: HttpHandler
) -> None:
    clock = ManualClock()
    poisoned = Poisoned(store_backend.runs, key="")
    engine = Engine(
        definitions=store_backend.definitions,
        runs=poisoned,
        outbox=store_backend.outbox,
        timers=store_backend.timers,
        aways=store_backend.aways,
        clock=clock,
        handlers={"call_http": http},
    )
    runs = await start_tenants(engine, service)
    poisoned.key = f"{runs['TBAD']}:call:1"
    for _ in range(MAX_ATTEMPTS):
        await engine.run_until_idle()
        clock.advance(timedelta(seconds=MAX_RETRY_DELAY))
    await engine.run_until_idle()

    for tenant, run_id in runs.items():
        if tenant != "TBAD":
            assert (await engine.get_run(tenant, run_id)).status == "completed", tenant
    bad_key = f"{runs['TBAD']}:call:1"
    assert service.calls[("/bad", bad_key)] == MAX_ATTEMPTS  # at least once, at most this
    assert {n for (path, _), n in service.calls.items() if path != "/bad"} == {1}
    [dead] = await engine.dead_commands()
    reason = f"its outcome could not be recorded ({MAX_ATTEMPTS} attempts): the store choked"
    assert (dead.run_id, dead.attempts, dead.last_error) == (runs["TBAD"], MAX_ATTEMPTS, reason)
    bad = await engine.get_run("TBAD", runs["TBAD"])
    assert (bad.status, bad.steps["call"].error) == ("failed", reason)
    errors = await outbox_errors(store_backend)
    assert set(errors) == {bad_key}
