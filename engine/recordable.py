"""What the stores can keep. Text with a NUL character (PostgreSQL refuses it) or a lone surrogate
(half of a UTF-16 pair: not Unicode, so it cannot be encoded as UTF-8 or JSON) cannot be stored.

`clean` makes a value from the outside world (a command's outcome) storable where that is safe,
saying what it changed; `locate` names the field of a change that cannot be stored, for a message
that helps (`inputs.vendor: contains a NUL character`). Both walk the value, so the hot path
never calls them: the stores find out by failing, and only then is the culprit looked for.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticSerializationError

from engine import text
from engine.errors import Unrecordable
from engine.ports import RunChange
from engine.text import NUL, has_lone_surrogate

REPLACEMENT = "\ufffd"


problem = text.problem  # the one rule, re-exported for the stores' callers


def _children(value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield name, getattr(value, name)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            name = clean(str(key)).value  # a path that can itself be stored and shown
            yield name, key  # a key is text too
            yield name, item
    elif isinstance(value, list | tuple | set | frozenset):
        for index, item in enumerate(value):
            yield str(index), item


def find(value: Any, path: str = "") -> tuple[str, str] | None:
    """The first (dotted path, why) in `value` that cannot be stored, or None."""
    if isinstance(value, str):
        why = problem(value)
        return (path or "(value)", why) if why else None
    if isinstance(value, bytes):
        try:
            value.decode("utf-8")
        except UnicodeDecodeError:
            return path or "(value)", "is binary data, not text"
        return None
    for name, child in _children(value):
        found = find(child, f"{path}.{name}" if path else name)
        if found is not None:
            return found
    return None


def locate(change: RunChange) -> dict[str, str]:
    """Field -> why, for what in `change` cannot be stored ({} when nothing is found). The
    run's state holds nearly everything; then what is stored beside it."""
    found = find(change.state)
    parts: list[tuple[str, Any]] = [("idempotency_key", change.idempotency_key)]
    parts += [(event.type, event) for event in change.decision.events]
    parts += [(command.type, command) for command in change.decision.commands]
    for name, part in parts:
        if found is not None:
            break
        found = find(part, name)
    return dict([found]) if found else {}


def run_of(change: RunChange) -> tuple[str, str]:
    return (change.state.tenant_id, change.state.run_id)


def unrecordable(changes: Sequence[RunChange], cause: str, *, known: bool = False) -> Unrecordable:
    """The error for changes a store refused because of their values. Those found to hold a
    value that cannot be stored are the suspects (`known`: all of them are); the message names
    the first one's field, or gives the store's own words."""
    suspects: dict[tuple[str, str], dict[str, str]] = {}
    for change in changes:
        found = locate(change)
        if found or known:
            suspects[run_of(change)] = found
    errors = next((e for e in suspects.values() if e), None)
    return Unrecordable(errors or {"value": f"cannot be stored: {cause}"}, frozenset(suspects))


def check(change: RunChange) -> None:
    """Raise `Unrecordable` if `change` cannot be written as JSON the way the SQL stores write
    it (for the in-memory store, which keeps objects and would otherwise accept anything)."""
    try:
        change.state.model_dump_json(exclude_defaults=True)
        for event in change.decision.events:
            event.model_dump_json()
        for command in change.decision.commands:
            command.model_dump_json(by_alias=True)
    except PydanticSerializationError as exc:
        raise unrecordable([change], str(exc), known=True) from None


@dataclass
class Cleaned:
    value: Any
    surrogates: int = 0
    nuls: int = 0

    @property
    def note(self) -> str | None:
        """What was changed, for the run's timeline; None when nothing was."""
        done = []
        if self.surrogates:
            s = "s" if self.surrogates > 1 else ""
            done.append(f"{self.surrogates} lone surrogate{s} replaced with U+FFFD")
        if self.nuls:
            s = "s" if self.nuls > 1 else ""
            done.append(f"{self.nuls} NUL character{s} removed")
        return "; ".join(done) or None


def clean(value: Any) -> Cleaned:
    """`value` (JSON-like: dicts, lists, text, numbers) with every lone surrogate replaced by
    U+FFFD and every NUL character removed. Surrogate pairs become the character they encode."""
    out = Cleaned(value)
    out.value = _clean(value, out)
    return out


def _clean(value: Any, out: Cleaned) -> Any:
    if isinstance(value, str):
        if value.isascii() and NUL not in value:
            return value
        if NUL in value:
            out.nuls += value.count(NUL)
            value = value.replace(NUL, "")
        if has_lone_surrogate(value):
            before = value.count(REPLACEMENT)
            value = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
            out.surrogates += value.count(REPLACEMENT) - before
        return value
    if isinstance(value, dict):
        return {_clean(k, out): _clean(v, out) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v, out) for v in value]
    return value
