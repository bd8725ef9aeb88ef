"""Load a workflow file (YAML or JSON) into a WorkflowDefinition, with errors that name lines.

The text is composed into YAML nodes first, so every mapping key and sequence item is known with
its line; pydantic's errors and the cross-checks in `checks.py` are then reported at those lines.
Every problem found is reported at once, in one DefinitionError.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from typing import Any

import yaml
from pydantic import ValidationError

from engine.definitions.checks import check_definition, check_parts
from engine.definitions.messages import Path, describe, issues_from_validation
from engine.definitions.models import MAX_STEPS, WorkflowDefinition
from engine.errors import DefinitionError, DefinitionIssue

LineMap = dict[Path, int]
_BOOL, _TIMESTAMP = "tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp"


# libyaml's parser when PyYAML has it: composing a large file in pure Python takes seconds.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SafeLoader):  # type: ignore[valid-type,misc]
    """SafeLoader with YAML 1.2 scalars: only true/false are booleans (`no`, `on` stay text) and
    dates stay text, so what loads is exactly what JSON could say."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag not in (_BOOL, _TIMESTAMP)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
MAX_NODES = 10_000  # values in a file: composing and constructing them is Python work
MAX_DEPTH = 64
MAX_CHARS = 200_000  # of a workflow file


def load_definition(
    text: str, filename: str | None = None, *, secret_names: Collection[str] | None = None
) -> WorkflowDefinition:
    """Parse and validate a workflow; raises DefinitionError listing every issue found.
    `secret_names`: the secrets of the workspace it is applied to (see `check_definition`)."""
    if len(text) > MAX_CHARS:
        message = f"the file is {len(text):,} characters long (at most {MAX_CHARS:,})"
        raise DefinitionError(_located([_issue("", message, 1)], {}, filename))
    try:
        data, lines, issues = _parse(text, filename)
    except DefinitionError as exc:
        raise DefinitionError(_located(exc.issues, {}, filename)) from None
    except RecursionError:  # both parsers recurse per nesting level
        message = f"the definition nests too deeply (more than {MAX_DEPTH} levels)"
        raise DefinitionError(_located([_issue("", message)], {}, filename)) from None
    except ValueError as exc:  # a number longer than Python converts (4300 digits)
        message = f"a value cannot be read: {str(exc).split(';')[0]}"
        raise DefinitionError(_located([_issue("", message)], {}, filename)) from None
    if not isinstance(data, dict):
        message = f"the top level must be a mapping (name:, steps:, ...), not {describe(data)}"
        raise DefinitionError(_located([_issue("", message, lines.get((), 1))], lines, filename))
    steps = data.get("steps")
    if isinstance(steps, list) and len(steps) > MAX_STEPS:  # before validating them all
        message = f"a workflow has at most {MAX_STEPS} steps, this one has {len(steps):,}"
        raise DefinitionError(_located([_issue("steps", message)], lines, filename))
    try:
        definition = WorkflowDefinition.model_validate(data)
    except ValidationError as exc:
        issues += issues_from_validation(exc, data)
        # The steps that are sound by themselves are still checked, so unknown references
        # show up together with the shape errors rather than after they are fixed.
        issues += check_parts(data)
        raise DefinitionError(_located(issues, lines, filename)) from None
    issues += check_definition(definition, secret_names)
    if issues:
        raise DefinitionError(_located(issues, lines, filename))
    return definition


def _issue(field: str, message: str, line: int | None = None) -> DefinitionIssue:
    return DefinitionIssue(field=field, message=message, line=line)


def _parse(text: str, filename: str | None) -> tuple[Any, LineMap, list[DefinitionIssue]]:
    """The data, the line of every key/item, and duplicate keys found.

    JSON keeps JSON semantics (e.g. 1e5 is a number); YAML only supplies its lines.
    """
    stripped = text.lstrip()
    if all(not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()):
        raise DefinitionError([_issue("", "the file is empty; a workflow needs name: and steps:")])
    is_json_file = (filename or "").lower().endswith(".json")
    if is_json_file or stripped.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            if is_json_file:
                where = f"line {exc.lineno}, column {exc.colno}"
                issue = _issue("", f"invalid JSON at {where}: {exc.msg}", exc.lineno)
                raise DefinitionError([issue]) from None
        else:
            # Raw tabs can only be whitespace in valid JSON; YAML refuses them as indentation.
            node = _compose_or_none(text.replace("\t", " "))
            if node is not None:
                return (data, *_lines(node))
            _bounded(data)
            return data, {}, []
    node = _compose(text)
    lines, duplicates = _lines(node)
    loader = _Loader("")
    try:
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise DefinitionError([_yaml_issue(exc)]) from None
    finally:
        loader.dispose()
    return data, lines, duplicates


def _compose(text: str) -> yaml.Node:
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise DefinitionError([_yaml_issue(exc)]) from None
    if node is None:
        raise DefinitionError([_issue("", "the file is empty; a workflow needs name: and steps:")])
    return node


def _compose_or_none(text: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError:
        return None


def _bounded(data: Any) -> None:
    """Refuse data nested or sized past the limits `_lines` applies to YAML."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    count = 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES or depth > MAX_DEPTH:
            message = (
                f"the definition is too large: more than {MAX_NODES} values or {MAX_DEPTH} levels"
            )
            raise DefinitionError([_issue("", message)])
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)


def _yaml_issue(exc: yaml.YAMLError) -> DefinitionIssue:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    message = f"invalid YAML: {problem}" + (f" ({context})" if context else "")
    if mark is None:
        return _issue("", message)
    return _issue("", f"{message} at line {mark.line + 1}, column {mark.column + 1}", mark.line + 1)


def _lines(root: yaml.Node) -> tuple[LineMap, list[DefinitionIssue]]:
    """Line (1-based) of every mapping key and sequence item, by path; and duplicate keys."""
    lines: LineMap = {(): root.start_mark.line + 1}
    duplicates: list[DefinitionIssue] = []
    stack: list[tuple[Path, yaml.Node]] = [((), root)]
    while stack:
        path, node = stack.pop()
        # Aliases can repeat a subtree many times over, or nest it in itself.
        if len(lines) > MAX_NODES or len(path) > MAX_DEPTH:
            message = (
                f"the definition is too large: more than {MAX_NODES} values or "
                f"{MAX_DEPTH} levels (check aliases)"
            )
            raise DefinitionError([_issue("", message, node.start_mark.line + 1)])
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
                line = key_node.start_mark.line + 1
                child = (*path, key)
                if key in seen:
                    field = ".".join(str(p) for p in child)
                    duplicates.append(
                        _issue(field, f"duplicate key {key!r} (first at line {seen[key]})", line)
                    )
                    continue
                seen[key] = line
                lines[child] = line
                stack.append((child, value_node))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                lines[(*path, index)] = item.start_mark.line + 1
                stack.append(((*path, index), item))
    return lines, duplicates


def _located(
    issues: list[DefinitionIssue], lines: LineMap, filename: str | None
) -> list[DefinitionIssue]:
    """Fill in file and line: the line of the field, or of its nearest parent that exists."""
    out = []
    for issue in issues:
        line = issue.line
        if line is None:
            parts = [p for p in issue.field.split(".") if p]
            path: Path = tuple(int(p) if p.isdigit() else p for p in parts)
            while path and path not in lines and tuple(map(str, path)) not in lines:
                path = path[:-1]
            line = lines.get(path, lines.get(tuple(map(str, path))))
        out.append(DefinitionIssue(issue.field, issue.message, line, filename))
    return sorted(out, key=lambda i: (i.line or 0, i.field))
