"""Templates and `when:` conditions: rendering, clear failures, the sandbox, references."""

from __future__ import annotations

import pathlib

import pytest

from engine import templates
from engine.errors import TemplateError

CTX = {
    "inputs": {"amount": 1500, "currency": "EUR", "note": "<!channel> lunch & co"},
    "steps": {"manager": {"decision": "approved", "decided_by": ["U1"]}},
    "run": {"id": "r1", "workflow": "expense", "version": 2, "requester": "U9"},
    "requester": "U9",
}


def test_render_reads_inputs_and_step_outputs() -> None:
    text = "{{ inputs.amount }} {{ inputs.currency }}, manager {{ steps.manager.decision }}"
    assert templates.render(text, CTX) == "1500 EUR, manager approved"


def test_render_does_not_escape_html_and_drops_trailing_newline() -> None:
    assert templates.render("{{ inputs.note }}\n", CTX) == "<!channel> lunch & co"


def test_undefined_input_names_the_key_and_the_known_keys() -> None:
    with pytest.raises(TemplateError, match=r"no key 'amout' \(known keys: amount, currency"):
        templates.render("{{ inputs.amout }}", CTX)


def test_undefined_root_is_named() -> None:
    with pytest.raises(TemplateError, match="'secrets' is undefined"):
        templates.render("Bearer {{ secrets.TOKEN }}", CTX)


def test_syntax_error_says_where() -> None:
    with pytest.raises(TemplateError, match=r"line 2"):
        templates.render("Hello\n{{ inputs.amount }", CTX)


def test_runtime_errors_become_template_errors() -> None:
    with pytest.raises(TemplateError, match="division by zero"):
        templates.render("{{ inputs.amount / 0 }}", CTX)


@pytest.mark.parametrize(
    "text",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ inputs.__class__.__init__.__globals__ }}",
        "{{ run.items.__self__ }}",
    ],
)
def test_sandbox_refuses_internals(text: str) -> None:
    with pytest.raises(TemplateError, match=r"unsafe|undefined|no attribute"):
        templates.render(text, CTX)


def test_render_value_renders_strings_inside_json_and_keeps_other_values() -> None:
    body = {"amount": "{{ inputs.amount }}", "tags": ["{{ inputs.currency }}", 3], "ok": True}
    assert templates.render_value(body, CTX) == {
        "amount": "1500",
        "tags": ["EUR", 3],
        "ok": True,
    }
    assert templates.render_value(None, CTX) is None


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("inputs.amount > 1000", True),
        ("inputs.amount > 2000", False),
        ("steps.manager.decision == 'approved' and inputs.currency in ['EUR', 'USD']", True),
        ("inputs.amount", True),
    ],
)
def test_evaluate_conditions(expression: str, expected: bool) -> None:
    assert templates.evaluate(expression, CTX) is expected


@pytest.mark.parametrize(
    ("expression", "phrase"),
    [
        ("inputs.missing > 3", "no key 'missing'"),
        ("inputs.amount >", "unexpected 'end of template'"),
        ("inputs.amount }} {{ 1", "unexpected '}}' after the expression"),
        ("inputs.currency > 3", "not supported"),
        ("''.__class__", "unsafe"),
    ],
)
def test_evaluate_fails_clearly(expression: str, phrase: str) -> None:
    with pytest.raises(TemplateError, match=phrase):
        templates.evaluate(expression, CTX)


def test_references_of_a_template() -> None:
    text = (
        "{{ inputs.amount }} {{ steps['book'].response.id }} {{ run }}"
        "{% for d in steps.manager.decided_by %}{{ d.name }}{% endfor %}"
        "{% set total = 3 %}{{ total }} {{ range(2) | list }}"
    )
    assert templates.references(text) == {
        ("inputs", "amount"),
        ("steps", "book"),
        ("steps", "manager"),
        ("run", None),
    }


def test_references_of_an_expression() -> None:
    refs = templates.references("inputs.amount > 1000 or steps.pay is defined", expression=True)
    assert refs == {("inputs", "amount"), ("steps", "pay")}


def test_references_of_bad_text_raise() -> None:
    with pytest.raises(TemplateError):
        templates.references("{{ a", expression=False)


def test_check_syntax() -> None:
    assert templates.check_syntax("Hi {{ inputs.amount }}") is None
    unclosed = templates.check_syntax("a\nb\n{% if x %}")
    assert unclosed is not None
    assert unclosed.startswith("Unexpected end of template") and unclosed.endswith("(line 3)")
    assert templates.check_syntax("x > 1", expression=True) is None
    assert templates.check_syntax("x >", expression=True) is not None
    assert templates.check_syntax("{{ x }}", expression=True) is not None


def test_mrkdwn_escape() -> None:
    assert templates.mrkdwn_escape("<!channel> & <https://evil|bank>") == (
        "&lt;!channel&gt; &amp; &lt;https://evil|bank&gt;"
    )
    assert templates.mrkdwn_escape("plain *bold*") == "plain *bold*"


def test_no_eval_in_the_template_module() -> None:
    source = pathlib.Path(templates.__file__).read_text()
    assert "eval(" not in source and "exec(" not in source


def test_none_renders_as_nothing() -> None:
    ctx = {"steps": {"ticket": {"values": {"comment": None}}}}
    assert templates.render("[{{ steps.ticket.values.comment }}]", ctx) == "[]"


def test_mapping_keys_win_over_dict_methods() -> None:
    ctx = {"steps": {"ticket": {"values": {"window": "09:00"}, "items": [1, 2]}}}
    assert templates.render("{{ steps.ticket.values.window }}", ctx) == "09:00"
    assert templates.evaluate("steps.ticket.items | length == 2", ctx)
