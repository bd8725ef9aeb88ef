"""`audit check` of a live workspace, run by run: what `verify_bundle` checks of a bundle of the
whole workspace, without ever holding the whole workspace. The definitions and the newest
checkpoint are read once; the runs come in batches (`check_runs`), each judged against the
checkpoint's leaves for that run alone; the runs the checkpoint names that never came are
reported at the end (`finish`)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from engine.audit.bundle import RunReport, _verify_run
from engine.audit.checkpoint import PURGED, Checkpoint, KeyRing, checkpoint_problems
from engine.audit.merkle import Leaf


class LiveCheck:
    def __init__(
        self,
        tenant: str,
        definitions: Iterable[dict[str, Any]],
        checkpoint: Checkpoint | None,
        keys: KeyRing,
    ) -> None:
        self.tenant = tenant
        self.problems: list[str] = []  # about the workspace as a whole
        self.purged: list[str] = []  # runs a signed retention purge deleted
        self.checkpoints = 0 if checkpoint is None else 1
        self._defs: dict[tuple[str, int], dict[str, Any]] = {}
        for d in definitions:
            self._defs[(d["name"], int(d["version"]))] = d
            if hashlib.sha256(d["canonical"].encode()).hexdigest() != d["hash"]:
                self.problems.append(
                    f"definition {d['name']} v{d['version']}: its body does not match its hash"
                )
        self._checkpoint = checkpoint
        self._leaves: dict[str, list[Leaf]] = {}  # run id -> its leaves in the checkpoint
        if checkpoint is None:
            self.problems.append("no signed checkpoint: nothing vouches for the runs' heads")
            return
        at = checkpoint.at.isoformat()
        if checkpoint.tenant_id != tenant:
            self.problems.append(f"checkpoint of {at} is for another tenant")
        for problem in checkpoint_problems(checkpoint, keys):
            self.problems.append(f"checkpoint of {at}: {problem}")
        for leaf in checkpoint.leaves:
            if leaf[0] == PURGED:
                self.purged.append(leaf[1])
            elif leaf[0] == "run":
                self._leaves.setdefault(leaf[1], []).append(leaf)
            elif leaf[0] == "definition":
                _, name, version, digest = leaf
                known = self._defs.get((name, version))
                if known is not None and known["hash"] != digest:
                    self.problems.append(
                        f"definition {name} v{version}: differs from the one checkpointed at {at}"
                    )
        self._unseen = set(self._leaves)

    def check_runs(self, runs: Iterable[dict[str, Any]]) -> list[RunReport]:
        """Each run (as a bundle holds it: run_id, started_at, events, head) checked."""
        out = []
        for run in runs:
            run_id = run["run_id"]
            checkpoints = []
            if self._checkpoint is not None:
                mine = tuple(self._leaves.get(run_id, ()))
                checkpoints = [replace(self._checkpoint, leaves=mine)]
                self._unseen.discard(run_id)
            out.append(_verify_run(self.tenant, run, checkpoints, self._defs))
        return out

    def finish(self) -> list[str]:
        """The runs the checkpoint vouches for that are gone from the workspace (added to
        `problems`)."""
        if self._checkpoint is None:
            return []
        gone = [
            f"run {run_id}: in a signed checkpoint but not in the workspace"
            for run_id in sorted(self._unseen)
        ]
        self.problems.extend(gone)
        return gone
