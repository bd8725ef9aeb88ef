"""Templates cannot change run data, and cannot make the server do unbounded work: what can be
seen in the text is refused when a definition is saved, the rest is cut off while rendering
with a reason a workflow author can act on."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from engine import templates
from engine.errors import TemplateError
from engine.template_budget import MAX_LOOP_ITERATIONS, MAX_OUTPUT, MAX_VALUE
from engine.template_data import ReadOnlyDict, ReadOnlyList, freeze

CTX: dict[str, Any] = {
    "inputs": {"amount": 120, "tags": ["a", "b"], "note": "lunch"},
    "steps": {"book": {"response": {"id": "B-1", "lines": [{"n": 1}, {"n": 2}]}}},
    "run": {"id": "r1", "workflow": "expense", "version": 1, "requester": "U1"},
    "requester": "U1",
}


@pytest.mark.parametrize(
    "text",
    [
        "{% set i = inputs %}{{ i.update({'amount': 99999}) or '' }}",
        "{{ inputs.setdefault('amount', 5) }}",
        "{{ inputs.pop('amount') }}",
        "{{ inputs.tags.append('c') }}",
        "{{ steps.book.response.lines[0].update({'n': 9}) }}",
        "{{ dict.update(inputs, {'amount': 1}) }}",
        "{% set l = inputs.tags %}{{ l.extend([1, 2]) or l.sort() }}",
    ],
)
def test_a_template_cannot_change_the_data_it_reads(text: str) -> None:
    before = copy.deepcopy(CTX)
    with pytest.raises(TemplateError, match=r"unsafe|no attribute|read-only"):
        templates.render(text, CTX)
    assert before == CTX


def test_every_kind_of_render_gets_read_only_data() -> None:
    before = copy.deepcopy(CTX)
    with pytest.raises(TemplateError):
        templates.evaluate("inputs.update({'amount': 1}) or true", CTX)
    with pytest.raises(TemplateError):
        templates.render_value({"a": "{{ inputs.tags.append(1) }}"}, CTX)
    with pytest.raises(TemplateError):
        templates.render_url("https://x/{{ inputs.tags.pop() }}", CTX)
    assert before == CTX


def test_the_data_is_read_only_at_every_depth_and_every_way_it_is_reached() -> None:
    data = freeze(CTX)
    lines = data["steps"]["book"]["response"]["lines"]
    reached = [
        lines[0],
        list(lines)[1],
        lines[:1][0],
        [v for _k, v in data["inputs"].items()][1],
        dict(**data["steps"])["book"],
        data["steps"].get("book"),
        next(iter(data["steps"].values())),
    ]
    for value in reached:
        assert isinstance(value, ReadOnlyDict | ReadOnlyList)
        with pytest.raises(TypeError, match="read-only"):
            value.clear()
    # A list a template builds from read-only items keeps them read-only.
    joined = templates.render("{{ (inputs.tags + ['c'])|join }}", CTX)
    assert joined == "abc"


def test_reading_still_works_as_before() -> None:
    text = (
        "{{ inputs }} {{ inputs.tags|join(',') }} {{ steps.book.response|tojson }} "
        "{% for l in steps.book.response.lines %}{{ l.n }}{% endfor %} "
        "{{ inputs.tags + ['c'] }} {{ inputs|dictsort|first }} {{ inputs.items()|list|length }}"
    )
    assert templates.render(text, CTX) == (
        "{'amount': 120, 'tags': ['a', 'b'], 'note': 'lunch'} a,b "
        '{"id": "B-1", "lines": [{"n": 1}, {"n": 2}]} 12 '
        "['a', 'b', 'c'] ('amount', 120) 3"
    )
    ns = "{% set ns = namespace(t=0) %}{% for l in steps.book.response.lines %}"
    assert templates.render(ns + "{% set ns.t = ns.t + l.n %}{% endfor %}{{ ns.t }}", CTX) == "3"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        # Loops over data (not over a constant range) are cut off while running.
        (
            "{% set l = range(5000)|list %}{% for a in l %}{% for b in l %}x{% endfor %}"
            "{% endfor %}",
            f"loops ran more than {MAX_LOOP_ITERATIONS:,} times",
        ),
        (
            "{% set l = range(5000)|list %}{% for a in l %}{% if a in l %}{% endif %}{% endfor %}",
            "too much work",
        ),
        (
            "{% set l = range(9000)|list %}{% for a in range(9000) %}{{ (l|sort)[0] }}{% endfor %}",
            "too much work",
        ),
        (
            "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
            "{{ f(19) }}",
            "too much work",
        ),
        ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "macros call each other"),
        # One operation that would build a huge value is refused before it runs.
        ("{{ 'a' * 1000000000 }}", f"at most {MAX_VALUE:,}"),
        ("{{ [1] * 1000000000 }}", f"at most {MAX_VALUE:,}"),
        ("{{ 10 ** 100000 }}", "bits"),
        ("{{ 'a'|center(1000000000) }}", f"at most {MAX_VALUE:,}"),
        ("{{ 'a'.rjust(1000000000) }}", f"at most {MAX_VALUE:,}"),
        ("{{ '%999999999d' % 1 }}", "format width"),
        ("{{ '{:>999999999}'.format(1) }}", "format width"),
        ("{{ ('x' * 1000)|replace('', 'y' * 1000) }}", f"at most {MAX_VALUE:,}"),
        ("{{ (['x' * 100000] * 1000)|join }}", "over 200,000 characters"),
        ("{{ [['x' * 1000] * 1000] * 100 }}", "over 200,000 characters"),
        ("{{ range(10)|slice(1000000000)|list }}", f"at most {MAX_VALUE:,}"),
        # Doubling a value, by `~` or a block `set`, stops at the value limit.
        (
            "{% set ns = namespace(s='ab') %}{% for i in range(40) %}"
            "{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
            "200,000 characters|too much work",
        ),
        ("{% set a = 'x' * 150000 %}{% set a = a ~ a %}{% set a = a ~ a %}", "200,000"),
        (
            "{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set x %}{{ ns.s }}"
            "{{ ns.s }}{% endset %}{% set ns.s = x %}{% endfor %}",
            "200,000",
        ),
        ("{% for i in range(9000) %}" + "y" * 100 + "{% endfor %}", "output is over"),
        ("{{ lipsum(1000000000) }}", "'lipsum' is undefined"),
    ],
)
def test_a_template_past_a_limit_fails_with_its_reason(text: str, reason: str) -> None:
    with pytest.raises(TemplateError, match=reason):
        templates.render(text, CTX)


def test_the_output_limit_is_the_whole_output() -> None:
    assert len(templates.render("{{ 'x' * 150000 }}", CTX)) == 150000
    with pytest.raises(TemplateError, match=f"output is over {MAX_OUTPUT:,}"):
        templates.render("{{ 'x' * 150000 }}{{ 'x' * 150000 }}", CTX)


def test_a_when_condition_is_bounded_too() -> None:
    with pytest.raises(TemplateError, match=r"condition .*at most"):
        templates.evaluate("('a' * 1000000000)|length > 1", CTX)


@pytest.mark.parametrize(
    ("text", "expression", "reason"),
    [
        ("x" * (templates.MAX_TEMPLATE_CHARS + 1), False, "characters long"),
        ("{% if a %}" * 300 + "x" + "{% endif %}" * 300, False, "blocks nest more than"),
        ("{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}", False, "brackets nest more than"),
        ("(" * 3000 + "1" + ")" * 3000, True, "brackets nest more than"),
        ("{{ " + "not " * 1500 + "x }}", False, "operators in a row"),
        ("{{ " + "- " * 3000 + "1 }}", False, "operators in a row"),
        ("{{ " + "a if b else " * 300 + "c }}", False, "inline ifs"),
        ("{{ " + "1 + " * 1500 + "1 }}", False, "nests too deeply"),
        ("{{ x" + "|upper" * 1000 + " }}", False, "nests too deeply"),
        ("{{ x" + ".a" * 1000 + " }}", False, "nests too deeply"),
        ("{% set ns = namespace(a=1) %}\n{{ range(20000)|list }}", False, "range\\(\\) of 20,000"),
        (
            "a\n{% for a in range(1000) %}{% for b in range(1000) %}x{% endfor %}{% endfor %}",
            False,
            r"loops would run 1,000,000 times \(at most 10,000\) \(line 2\)",
        ),
        (
            "{% for a in [1, 2, 3] %}{% for b in range(5000) %}{% endfor %}{% endfor %}",
            False,
            "15,000 times",
        ),
    ],
)
def test_what_the_text_shows_is_refused_before_it_runs(
    text: str, expression: bool, reason: str
) -> None:
    found = templates.analyze(text, expression=expression)
    assert found.error is not None
    assert re.search(reason, found.error)
    with pytest.raises(TemplateError, match=reason):
        if expression:
            templates.evaluate(text, CTX)
        else:
            templates.render(text, CTX)


def test_nesting_errors_name_their_line() -> None:
    text = "line 1\nline 2\n" + "{% if a %}\n" * 20 + "{% endif %}" * 20
    assert templates.check_syntax(text) == "blocks nest more than 10 deep (line 13)"


def test_analyze_counts_expressions_and_reads_references() -> None:
    found = templates.analyze("{{ inputs.a }} {% if steps.b.ok %}{{ run.id }}{% endif %}")
    assert found.error is None and found.expressions == 4
    assert found.references == {("inputs", "a"), ("steps", "b"), ("run", "id")}
    assert templates.analyze("inputs.a > 1", expression=True).expressions == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("../admin?x=", "https://erp.example/api/..%2Fadmin%3Fx%3D/items?q=..%2Fadmin%3Fx%3D"),
        (
            "a b&c=d#e+f",
            "https://erp.example/api/a%20b%26c%3Dd%23e%2Bf/items?q=a%20b%26c%3Dd%23e%2Bf",
        ),
        (12, "https://erp.example/api/12/items?q=12"),
    ],
)
def test_values_in_a_url_are_percent_encoded(value: Any, expected: str) -> None:
    ctx = {**CTX, "inputs": {"id": value}}
    url = "https://erp.example/api/{{ inputs.id }}/items?q={{ inputs.id }}"
    assert templates.render_url(url, ctx) == expected


def test_raw_url_inserts_a_value_as_written() -> None:
    ctx = {**CTX, "inputs": {"base": "https://erp.example/v2", "id": "a/b"}}
    url = "{{ inputs.base | raw_url }}/items/{{ inputs.id }}"
    assert templates.render_url(url, ctx) == "https://erp.example/v2/items/a%2Fb"
    # Outside a URL the filter changes nothing.
    assert templates.render("{{ inputs.id | raw_url }}", ctx) == "a/b"


def test_a_url_value_the_server_supplies_as_raw_url_is_inserted_as_written() -> None:
    ctx = {**CTX, "app": {"url": templates.RawUrl("http://127.0.0.1:8080")}}
    url = templates.render_url("{{ app.url }}/demo/{{ inputs.amount }}", ctx)
    assert url == "http://127.0.0.1:8080/demo/120"


@pytest.mark.parametrize("value", [".", ".."])
def test_a_dot_segment_value_is_refused_in_a_url(value: str) -> None:
    ctx = {**CTX, "inputs": {"id": value}}
    with pytest.raises(TemplateError, match="cannot be inserted into a URL"):
        templates.render_url("https://erp.example/users/{{ inputs.id }}/", ctx)
