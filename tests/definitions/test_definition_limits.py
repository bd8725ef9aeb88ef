"""A definition made to be slow or deep to check is refused quickly, with the field and line of
the problem; and a file's errors are reported together."""

from __future__ import annotations

import pytest

from engine.definitions import load_definition
from engine.definitions.loader import MAX_CHARS
from engine.definitions.models import MAX_STEPS, MAX_TEMPLATE_EXPRESSIONS, MAX_TEMPLATE_TEXT
from engine.errors import DefinitionError

HEAD = "name: x\ninputs:\n  - {id: amount, type: number}\nsteps:\n"


def notify(step_id: str, message: str) -> str:
    return f"  - id: {step_id}\n    type: notify\n    message: {message!r}\n"


def refused(text: str) -> list[tuple[str, int | None, str]]:
    with pytest.raises(DefinitionError) as caught:
        load_definition(text, "wf.yaml")
    return [(i.field, i.line, i.message) for i in caught.value.issues]


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        # The shapes from the security review: each used to raise RecursionError (a 500).
        ("{% if 1 %}" * 1000 + "x" + "{% endif %}" * 1000, "characters long"),
        ("{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}", "characters long"),
        ("{% if 1 %}" * 100 + "x" + "{% endif %}" * 100, "blocks nest more than 10 deep"),
        ("{{ " + "(" * 1000 + "1" + ")" * 1000 + " }}", "brackets nest more than 10 deep"),
        ("{{ " + "1 + " * 1500 + "1 }}", "nests too deeply"),
        (
            "{% for a in range(100) %}{% for b in range(100) %}{% for c in range(100) %}x"
            "{% endfor %}{% endfor %}{% endfor %}",
            "loops would run 1,000,000 times",
        ),
    ],
)
def test_a_template_too_deep_or_too_big_is_refused_at_its_field_and_line(
    template: str, reason: str
) -> None:
    text = HEAD + notify("a", "hi") + notify("b", template)
    [(field, line, message)] = refused(text)
    assert (field, line) == ("steps.1.message", 10)
    assert message.startswith("template syntax error: ") and reason in message


def test_a_deep_when_condition_is_refused_too() -> None:
    when = "(" * 5000 + ")" * 5000
    text = HEAD + f"  - {{id: a, type: notify, message: hi, when: '{when}'}}\n"
    [(field, line, message)] = refused(text)
    assert (field, line) == ("steps.0.when", 5) and "condition syntax error" in message


def test_too_many_steps_are_refused_before_they_are_validated() -> None:
    text = HEAD + "".join(notify(f"s{i}", "hi") for i in range(MAX_STEPS + 1))
    assert refused(text) == [
        ("steps", 4, f"a workflow has at most {MAX_STEPS} steps, this one has {MAX_STEPS + 1}")
    ]


def test_a_file_too_large_is_refused_before_it_is_parsed() -> None:
    [(field, line, message)] = refused(HEAD + "#" * MAX_CHARS)
    assert (field, line) == ("", 1) and f"at most {MAX_CHARS:,}" in message


def test_too_many_template_expressions_in_all_are_refused() -> None:
    per_step = "{{ inputs.amount }} " * 10
    count = MAX_TEMPLATE_EXPRESSIONS // 10 + 1
    if count > MAX_STEPS:  # pragma: no cover - keeps the test honest if the limits move
        pytest.skip("limits changed")
    text = HEAD + "".join(notify(f"s{i}", per_step) for i in range(count + 1))
    [(field, _line, message)] = refused(text)
    assert field == f"steps.{count - 1}.message"
    assert f"over {MAX_TEMPLATE_EXPRESSIONS:,} expressions" in message


def test_too_much_template_text_in_all_is_refused() -> None:
    chunk = "x" * 4000 + "{{ inputs.amount }}"
    count = MAX_TEMPLATE_TEXT // len(chunk) + 1
    text = HEAD + "".join(notify(f"s{i}", chunk) for i in range(count))
    [(field, _line, message)] = refused(text)
    assert field == f"steps.{count - 1}.message"
    assert f"over {MAX_TEMPLATE_TEXT:,} characters in all" in message


def test_shape_errors_and_unknown_references_are_reported_together() -> None:
    text = (
        "inputs:\n  - {id: amount, type: number}\nsteps:\n"
        "  - {id: a, type: wait, duration: soon}\n"
        "  - {id: b, type: notify, message: '{{ inputs.amout }} {{ steps.zz.x }}'}\n"
        "  - {id: c, type: notify, message: '{{ steps.a.x }} {% if %}', to: nobody}\n"
        "  - {id: b, type: notify, message: ok}\n"
    )
    issues = refused(text)
    assert [(f, line) for f, line, _ in issues] == [
        ("name", 1),
        ("steps.0.duration", 4),
        ("steps.1.message", 5),
        ("steps.1.message", 5),
        ("steps.2.message", 6),
        ("steps.2.to", 6),
        ("steps.3.id", 7),
    ]
    messages = " | ".join(m for _, _, m in issues)
    assert "unknown input 'amout'" in messages and "unknown step 'zz'" in messages
    assert "template syntax error" in messages and "'nobody' is not" in messages
    assert "duplicate step id 'b'" in messages
