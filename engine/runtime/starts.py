"""`RunStarter`: starting a run, with its idempotency key (a retry gets the run it started)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine import principal as principals
from engine import recordable
from engine.decider import fold
from engine.errors import DuplicateRun, IdempotencyConflict, Unrecordable, WorkflowDisabled
from engine.forms import validate_values
from engine.idempotency import start_hash
from engine.ports import DefinitionStore, KeyedRun, RunChange, RunStore, StoredDefinition
from engine.runtime.applier import RunApplier
from engine.runtime.ids import IdFactory
from engine.state import RunState
from engine.triggers import StartRun


class RunStarter:
    def __init__(
        self,
        applier: RunApplier,
        definitions: DefinitionStore,
        runs: RunStore,
        new_run_id: IdFactory,
    ) -> None:
        self._applier = applier
        self.definitions = definitions
        self.runs = runs
        self._new_run_id = new_run_id

    async def start(
        self,
        tenant_id: str,
        workflow: str,
        inputs: Mapping[str, Any],
        requester: str,
        *,
        callback_url: str | None,
        idempotency_key: str | None,
        version: int | None,
        slack_step: str | None,
    ) -> RunState:
        """See `Engine.start_run`."""
        # Text no store can keep is refused here, alike on every backend, before any query.
        for name, value in (
            ("requester", requester),
            ("idempotency_key", idempotency_key),
            ("inputs", inputs),
        ):
            found = recordable.find(value, name)
            if found is not None:
                raise Unrecordable(dict([found]))
        request_hash = None
        if idempotency_key is not None:
            request_hash = start_hash(
                workflow, inputs, principals.canonical(requester), callback_url
            )
            existing = await self.runs.keyed_run(tenant_id, idempotency_key)
            if existing is not None:
                return await self._retried(tenant_id, idempotency_key, request_hash, existing)
        stored = await self._definition(tenant_id, workflow, version)
        trigger = StartRun(
            run_id=self._new_run_id(),
            tenant_id=tenant_id,
            version=stored.version,
            requester=principals.canonical(requester),
            inputs=validate_values(stored.definition.inputs, inputs),
            callback_url=callback_url,
            slack_step=slack_step,
        )
        decision = await self._applier.decide(tenant_id, stored.definition, None, trigger)
        change = RunChange(
            state=decision.state or fold(None, decision.events),
            expected_seq=0,
            decision=decision,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
        )
        try:
            return await self._applier.commit_new(change)
        except DuplicateRun as exc:  # a concurrent start with the same key won
            if idempotency_key is None or request_hash is None:
                raise
            won = await self.runs.keyed_run(tenant_id, idempotency_key)
            return await self._retried(
                tenant_id, idempotency_key, request_hash, won or KeyedRun(exc.run_id, None)
            )

    async def _definition(
        self, tenant_id: str, workflow: str, version: int | None
    ) -> StoredDefinition:
        """The version to start on: the latest unless `version` is asked for. Whether the
        workflow is disabled is read from its latest version, whichever is started."""
        stored = await self._applier.latest(tenant_id, workflow)
        if stored.disabled:
            raise WorkflowDisabled(f"workflow {workflow!r} is disabled; enable it to start runs")
        if version is not None and version != stored.version:
            stored = await self.definitions.get(tenant_id, workflow, version)
        return stored

    async def _retried(
        self, tenant_id: str, key: str, request_hash: str, first: KeyedRun
    ) -> RunState:
        """What a start with an already used key gets: the run the key started when the start
        asks for the same (a retry), `IdempotencyConflict` when it asks for something else."""
        if first.request_hash is not None and first.request_hash != request_hash:
            raise IdempotencyConflict(key, first.run_id)
        return await self.runs.load(tenant_id, first.run_id)
