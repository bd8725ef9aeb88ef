"""Broken workflow files: each is refused with the field, the line and what was expected."""

from __future__ import annotations

import textwrap

import pytest

from engine.definitions import load_definition
from engine.errors import DefinitionError, DefinitionIssue
from tests.definitions.broken_check_cases import CHECK_CASES
from tests.definitions.broken_schedule_cases import SCHEDULE_CASES
from tests.definitions.broken_shape_cases import SHAPE_CASES

CASES = SHAPE_CASES + CHECK_CASES + SCHEDULE_CASES


def _load(text: str) -> list[DefinitionIssue]:
    with pytest.raises(DefinitionError) as caught:
        load_definition(textwrap.dedent(text).lstrip("\n"), "wf.yaml")
    assert caught.value.issues, "a DefinitionError must list its issues"
    return caught.value.issues


@pytest.mark.parametrize(
    ("text", "field", "line", "phrase"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_broken_definition_is_refused_with_field_line_and_reason(
    text: str, field: str, line: int | None, phrase: str
) -> None:
    issues = _load(text)
    matching = [i for i in issues if i.field == field and phrase in i.message]
    assert matching, f"no issue at {field!r} saying {phrase!r}; got {[str(i) for i in issues]}"
    assert matching[0].line == line
    assert matching[0].file == "wf.yaml"


def test_there_are_plenty_of_broken_cases() -> None:
    assert len(CASES) >= 35


def test_every_issue_is_reported_at_once() -> None:
    issues = _load(
        """
        name: x
        steps:
          - id: a
            type: wait
            duration: 2 dayz
          - id: b
            type: http
            url: http://erp.example.internal/
            method: FETCH
        """
    )
    assert [(i.field, i.line) for i in issues] == [("steps.0.duration", 5), ("steps.1.method", 9)]


def test_the_error_message_names_file_line_and_field() -> None:
    with pytest.raises(DefinitionError) as caught:
        load_definition(
            "name: x\nsteps:\n  - id: a\n    type: wait\n    duration: soon\n", "w.yaml"
        )
    assert str(caught.value).startswith("w.yaml:5: steps.0.duration: 'soon' is not a duration")


def test_invalid_json_names_line_and_column() -> None:
    with pytest.raises(DefinitionError) as caught:
        load_definition('{\n  "name": "x",\n  "steps": [\n}', "wf.json")
    (issue,) = caught.value.issues
    assert issue.line == 4 and "invalid JSON at line 4, column 1" in issue.message


def test_json_errors_have_lines_too() -> None:
    step = '{"id": "a", "type": "wait", "duration": "2 dayz"}'
    text = '{\n\t"name": "x",\n\t"steps": [\n\t\t' + step + "\n\t]\n}"
    with pytest.raises(DefinitionError) as caught:
        load_definition(text, "wf.json")
    (issue,) = caught.value.issues
    assert (issue.field, issue.line) == ("steps.0.duration", 4)


def test_alias_bombs_are_refused_before_they_expand() -> None:
    rows = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    rows += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 12)]
    text = "name: x\n" + "\n".join(rows) + "\nsteps: [*a11]\n"
    with pytest.raises(DefinitionError, match="the definition is too large"):
        load_definition(text)


def test_a_recursive_alias_is_refused() -> None:
    with pytest.raises(DefinitionError, match="the definition is too large"):
        load_definition("name: x\nsteps: &s [*s]\n")


@pytest.mark.parametrize(
    "text",
    ["name: x\nsteps: " + "[" * 300 + "]" * 300, '{"steps": ' + "[" * 1200 + "]" * 1200 + "}"],
    ids=["yaml", "json"],
)
def test_absurd_nesting_is_refused(text: str) -> None:
    with pytest.raises(DefinitionError, match=r"nests too deeply|too large"):
        load_definition(text)
