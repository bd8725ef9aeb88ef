"""Turn pydantic's validation errors into DefinitionIssues a workflow author can act on.

Pydantic's locations include union member labels (the step type of the discriminated union,
"literal[...]", "NOf", "str"); they are dropped so the field path is the path in the file. Errors
from the members of one union are merged into one issue that lists what would have been accepted.
"""

from __future__ import annotations

import difflib
import re
import typing
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from engine.definitions.models import STEP_TYPES, WorkflowDefinition
from engine.errors import DefinitionIssue

Path = tuple[str | int, ...]

_FIELD_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_TYPE_LABELS = {"str", "int", "float", "bool", "list", "dict", "none"}
_NAME_PATTERN = "^[a-z][a-z0-9_-]{0,62}$"
_EXPECTED = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def issues_from_validation(exc: ValidationError, data: Any) -> list[DefinitionIssue]:
    cleaned = [(_clean_loc(e["loc"], data), e) for e in exc.errors()]
    grouped: dict[Path, list[ErrorDetails]] = {}
    for path, error in cleaned:
        # A union member that failed at this value's top while another member got further
        # (e.g. policy {n: x}: "not a literal" vs "n is not a number") is noise: drop it.
        deeper = any(len(p) > len(path) and p[: len(path)] == path for p, _ in cleaned)
        if deeper and len(error["loc"]) > len(path):
            continue
        grouped.setdefault(path, []).append(error)
    issues = []
    for path, errors in grouped.items():
        field = ".".join(str(p) for p in path)
        if len(errors) > 1:  # several members of one union refused the same value
            issues.append(DefinitionIssue(field, _union_message(path, errors)))
            continue
        issues.extend(DefinitionIssue(field, _message(path, e, data)) for e in errors)
    return issues


def _clean_loc(loc: tuple[str | int, ...], data: Any) -> Path:
    """Drop union member labels from a pydantic location, keeping keys that are in the file."""
    out: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(part, int):
            out.append(part)
            node = node[part] if isinstance(node, list) and part < len(node) else None
            continue
        if isinstance(node, dict) and part in node:
            out.append(part)
            node = node[part]
            continue
        is_step_tag = len(out) == 2 and out[0] == "steps" and part in STEP_TYPES
        if is_step_tag or not _FIELD_NAME.match(part) or part in _TYPE_LABELS:
            continue
        out.append(part)  # a field the file does not have (e.g. a missing required field)
        node = None
    return tuple(out)


def describe(value: Any) -> str:
    """A value as an author would name it: "text 'x'", "the number 3", "a list"."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"text {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _message(path: Path, error: ErrorDetails, data: Any) -> str:
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    if kind == "missing":
        return "required field missing"
    if kind == "extra_forbidden":
        return _unknown_field(path, data)
    if kind == "invalid_key":
        return f"field names must be text, got {describe(value)}"
    if kind == "union_tag_invalid":
        hint = _suggest(str(ctx.get("tag")), STEP_TYPES)
        return (
            f"unknown step type {ctx.get('tag')!r}{hint}; expected one of {', '.join(STEP_TYPES)}"
        )
    if kind == "union_tag_not_found":
        return f"a step needs a type: one of {', '.join(STEP_TYPES)}"
    if kind == "literal_error":
        return f"expected {ctx.get('expected')}, got {describe(value)}"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {describe(value)}"
    if kind == "string_pattern_mismatch" and ctx.get("pattern") == _NAME_PATTERN:
        return (
            f"{value!r} is not a valid name: use lowercase letters, digits, '-' or '_', "
            "starting with a letter (at most 63 characters)"
        )
    if kind == "too_short":
        return "must not be empty; list at least one"
    if kind == "string_too_short":
        return "must not be empty"
    if kind in ("greater_than_equal", "greater_than"):
        bound = ctx.get("ge", ctx.get("gt"))
        return (
            f"must be {'at least' if kind.endswith('equal') else 'more than'} {bound}, got {value}"
        )
    if kind in ("less_than_equal", "less_than"):
        bound = ctx.get("le", ctx.get("lt"))
        return (
            f"must be {'at most' if kind.endswith('equal') else 'less than'} {bound}, got {value}"
        )
    return str(error["msg"]).replace("Input should be", "expected").replace("Value error, ", "")


def _union_message(path: Path, errors: list[ErrorDetails]) -> str:
    got = describe(errors[0].get("input"))
    if path and path[-1] == "policy":
        return f"expected 'any', 'all', 'majority' or a mapping like {{n: 2}}, got {got}"
    wanted = []
    for e in errors:
        kind, ctx = e["type"], e.get("ctx") or {}
        if kind == "literal_error":
            wanted.append(str(ctx.get("expected")))
        elif kind in _EXPECTED:
            wanted.append(_EXPECTED[kind])
        else:
            wanted.append(str(e["msg"]).replace("Input should be ", ""))
    unique = list(dict.fromkeys(wanted))
    return f"expected {' or '.join(unique)}, got {got}"


def _suggest(word: str, choices: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _unknown_field(path: Path, data: Any) -> str:
    name = str(path[-1])
    model = _model_at(path[:-1], data)
    if model is None:
        return f"unknown field {name!r}"
    allowed = [f.alias or n for n, f in model.model_fields.items()]
    hint = _suggest(name, allowed)
    if not hint:
        hint = f"; allowed fields: {', '.join(sorted(allowed))}"
    return f"unknown field {name!r}{hint}"


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found += _models_in(arg)
    return found


def _model_at(path: Path, data: Any) -> type[BaseModel] | None:
    """The model class that validates the mapping at `path` (step classes chosen by `type`)."""
    candidates: list[type[BaseModel]] = [WorkflowDefinition]
    node = data
    for part in path:
        node = _child(node, part)
        if isinstance(part, str):
            nxt: list[type[BaseModel]] = []
            for model in candidates:
                for name, info in model.model_fields.items():
                    if part in (name, info.alias):
                        nxt += _models_in(info.annotation)
            candidates = list(dict.fromkeys(nxt))
        if len(candidates) > 1 and isinstance(node, dict):
            tagged = [m for m in candidates if _type_tag(m) == node.get("type")]
            candidates = tagged or candidates
    return candidates[0] if len(candidates) == 1 else None


def _child(node: Any, part: str | int) -> Any:
    if isinstance(part, int):
        return node[part] if isinstance(node, list) and part < len(node) else None
    return node.get(part) if isinstance(node, dict) else None


def _type_tag(model: type[BaseModel]) -> Any:
    field = model.model_fields.get("type")
    if field is None:
        return None
    args = typing.get_args(field.annotation)
    return args[0] if args else None
