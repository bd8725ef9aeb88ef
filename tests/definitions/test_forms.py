"""Form values as people submit them: coerced to their type, checked, every error reported."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from engine.definitions.models import FormField
from engine.errors import InvalidInput
from engine.forms import validate_values


def field(id: str, type: str = "text", **extra: Any) -> FormField:
    return FormField.model_validate({"id": id, "type": type, **extra})


def errors_of(fields: list[FormField], values: dict[str, Any], **kw: Any) -> dict[str, str]:
    with pytest.raises(InvalidInput) as caught:
        validate_values(fields, values, **kw)
    return caught.value.errors


@pytest.mark.parametrize(
    ("spec", "raw", "expected"),
    [
        (field("n", "number"), "12.5", 12.5),
        (field("n", "number"), "12", 12),
        (field("n", "number"), 7.0, 7),
        (field("n", "number", min=0, max=10), " 10 ", 10),
        (field("c", "checkbox"), "true", True),
        (field("c", "checkbox"), "no", False),
        (field("c", "checkbox"), True, True),
        (field("s", "select", options=["EUR", {"value": "USD", "label": "Dollar"}]), "USD", "USD"),
        (field("m", "multiselect", options=["a", "b", "c"]), "a, c", ["a", "c"]),
        (field("m", "multiselect", options=["a", "b", "c"]), ["b"], ["b"]),
        (field("d", "date"), "2026-02-28", "2026-02-28"),
        (field("t", "datetime"), "2026-03-01T09:00:00Z", "2026-03-01T09:00:00+00:00"),
        (field("t", "datetime"), "2026-03-01T09:00:00+01:00", "2026-03-01T09:00:00+01:00"),
        (field("u", "user"), "U0123ABCD", "U0123ABCD"),
        (field("u", "users"), "U0AAA,W0BBB", ["U0AAA", "W0BBB"]),
        (field("ch", "channel"), "C0123ABCD", "C0123ABCD"),
        (field("e", "email"), "ana@example.com", "ana@example.com"),
        (
            field("w", "url"),
            "https://tickets.example.com/CHG-1",
            "https://tickets.example.com/CHG-1",
        ),
        (field("x", "text", max_length=5), "hello", "hello"),
    ],
)
def test_values_are_coerced_to_their_type(spec: FormField, raw: Any, expected: Any) -> None:
    assert validate_values([spec], {spec.id: raw}) == {spec.id: expected}


@pytest.mark.parametrize(
    ("spec", "raw", "phrase"),
    [
        (field("n", "number"), "12,5", "expected a number"),
        (field("n", "number"), "nan", "expected a number"),
        (field("n", "number"), True, "expected a number"),
        (field("n", "number", min=1), "0", "must be at least 1"),
        (field("n", "number", max=100), 101, "must be at most 100"),
        (field("c", "checkbox"), "maybe", "expected true or false"),
        (field("s", "select", options=["EUR", "USD"]), "JPY", "not one of the options: EUR, USD"),
        (field("m", "multiselect", options=["a"]), "a,z", "'z' is not one of the options"),
        (field("d", "date"), "28/02/2026", "YYYY-MM-DD"),
        (field("d", "date"), "2026-02-30", "YYYY-MM-DD"),
        (field("t", "datetime"), "2026-03-01T09:00:00", "needs a timezone"),
        (field("t", "datetime"), "tomorrow", "ISO 8601"),
        (field("u", "user"), "@ana", "Slack user id"),
        (field("u", "users"), "U0AAA,ana", "Slack user ids"),
        (field("ch", "channel"), "#general", "Slack channel id"),
        (field("e", "email"), "ana@", "email address"),
        (field("w", "url"), "javascript:alert(1)", "http(s) URL"),
        (field("x", "text", max_length=5), "too long", "at most 5 characters"),
        (field("x", "text"), 12, "expected text"),
    ],
)
def test_bad_values_are_refused_with_a_reason(spec: FormField, raw: Any, phrase: str) -> None:
    assert phrase in errors_of([spec], {spec.id: raw})[spec.id]


def test_every_error_is_reported_with_unknown_keys() -> None:
    fields = [field("amount", "number", required=True), field("when", "date")]
    errors = errors_of(fields, {"when": "soon", "amout": "3"})
    assert set(errors) == {"amount", "when", "amout"}
    assert errors["amount"] == "required"
    assert errors["amout"] == "unknown field; expected one of amount, when"


def test_defaults_fill_missing_values_and_optional_ones_are_none() -> None:
    fields = [
        field("currency", "select", options=["EUR", "USD"], default="EUR"),
        field("note"),
        field("urgent", "checkbox"),
    ]
    assert validate_values(fields, {"note": ""}) == {
        "currency": "EUR",
        "note": None,
        "urgent": False,
    }


def test_required_on_reject_needs_the_field_only_when_rejecting() -> None:
    fields = [field("reason", "multiline", required_on="reject")]
    assert validate_values(fields, {}, decision="approve") == {"reason": None}
    assert errors_of(fields, {}, decision="reject") == {"reason": "required"}
    assert validate_values(fields, {"reason": "over budget"}, decision="reject") == {
        "reason": "over budget"
    }


def test_a_required_checkbox_must_be_checked() -> None:
    fields = [field("tested", "checkbox", required=True)]
    assert errors_of(fields, {"tested": "false"}) == {"tested": "must be checked"}
    assert validate_values(fields, {"tested": "on"}) == {"tested": True}


def test_invalid_input_message_names_each_field() -> None:
    with pytest.raises(InvalidInput, match="n: expected a number"):
        validate_values([field("n", "number")], {"n": "x"})


@pytest.mark.parametrize(
    ("spec", "raw", "phrase"),
    [
        (field("t"), "a\x00b", "NUL character"),
        (field("t", "multiline"), "half \ud83d of an emoji", "lone surrogate"),
        (field("u", "url"), "https://example.com/\x00", "NUL character"),
        (field("m", "multiselect", options=["a", "b"]), ["a", "\udcff"], "surrogate"),
        (field("n", "number"), 10**4000, "too large a number"),
        (field("n", "number"), -(2**63), "too large a number"),
    ],
    ids=["nul", "surrogate", "nul-in-url", "surrogate-in-list", "4000-digits", "64-bits"],
)
def test_values_no_channel_may_submit_are_refused_by_field(
    spec: FormField, raw: Any, phrase: str
) -> None:
    """Text a database cannot keep and numbers no field can hold, whichever channel sends them
    (Slack, email, dashboard, API, CLI all validate here): an `InvalidInput` naming the field."""
    problems = errors_of([spec], {spec.id: raw})
    assert list(problems) == [spec.id]
    assert phrase in problems[spec.id]


@pytest.mark.parametrize(
    "module",
    [
        "engine.forms",
        "engine.definitions.checks",
        "engine.definitions",
        "engine.templates",
        "engine.commands",
        "engine.schedules",
        "engine.events",
    ],
)
def test_each_module_imports_on_its_own(module: str) -> None:
    # engine.forms and engine.definitions import each other's names; no import order may break.
    result = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True)
    assert result.returncode == 0, result.stderr.decode()
