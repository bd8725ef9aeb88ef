"""One exception root for everything the engine refuses; each message is meant for the user."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


class EngineError(Exception):
    """Countersign could not do what was asked.

    `code` is stable (channels choose their wording and the API its status by it) and `facts`
    holds what a channel needs to word it (e.g. the step, who decided and when); `message` is
    the engine's own sentence, for channels that show it as is."""

    default_code: ClassVar[str] = "refused"

    def __init__(
        self, message: str | None = None, *, code: str | None = None, **facts: Any
    ) -> None:
        super().__init__(message or (self.__doc__ or "").strip())
        self.code = code or self.default_code
        self.facts: dict[str, Any] = facts

    @property
    def message(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class DefinitionIssue:
    """One problem in a workflow definition: where it is and what was expected."""

    field: str  # dotted path, e.g. "steps.2.approvers"
    message: str
    line: int | None = None
    file: str | None = None

    def __str__(self) -> str:
        where = self.file or "<definition>"
        if self.line is not None:
            where += f":{self.line}"
        return f"{where}: {self.field or '(top level)'}: {self.message}"


class DefinitionError(EngineError):
    """The workflow definition is not valid."""

    default_code = "invalid_definition"

    def __init__(self, issues: list[DefinitionIssue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(i) for i in self.issues) or None)


class NotFound(EngineError):
    """No such object in this workspace."""

    default_code = "not_found"


class WorkflowDisabled(EngineError):
    """This workflow is disabled."""

    default_code = "workflow_disabled"


class InvalidInput(EngineError):
    """The values given do not fit the form."""

    default_code = "invalid_input"

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()) or None)


class Unrecordable(InvalidInput):
    """This cannot be stored."""

    default_code = "invalid_input"

    def __init__(
        self, errors: dict[str, str], suspects: frozenset[tuple[str, str]] = frozenset()
    ) -> None:
        # (tenant, run) of the changes that hold the values, when known: a batch that cannot
        # be written is written again without them.
        self.suspects = suspects
        super().__init__(errors)


class NotAllowed(EngineError):
    """You are not allowed to do this."""

    default_code = "not_allowed"


class StepNotPending(EngineError):
    """This step is not waiting for a decision any more."""

    default_code = "not_waiting"


class RunFinished(EngineError):
    """This run has already finished."""

    default_code = "closed"


class ConcurrencyConflict(EngineError):
    """Someone else changed this run at the same time; try again."""

    default_code = "conflict"


class TemplateError(EngineError):
    """A template could not be rendered."""

    default_code = "template_error"


class OutboundRefused(EngineError):
    """The outbound request was refused by the host allowlist."""

    default_code = "outbound_refused"


class IdempotencyConflict(EngineError):
    """An Idempotency-Key already started a run for a different request."""

    default_code = "idempotency_conflict"

    def __init__(self, key: str, run_id: str) -> None:
        self.key = key
        self.run_id = run_id
        super().__init__(
            f"the idempotency key {key!r} already started run {run_id} with a different "
            "request; a retry must send the same workflow, inputs, requester and callback_url, "
            "and a new request needs a new key"
        )


class DuplicateRun(EngineError):
    """A run was already started with this idempotency key."""

    default_code = "duplicate_run"

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(f"a run was already started with this idempotency key: {run_id}")


class SecretUnreadable(EngineError):
    """A stored secret cannot be decrypted (moved to another workspace or name, or SECRET_KEY
    changed); set it again."""
