"""What lists and cards show of a run: its one-line summary and its steps' titles.

The summary tells apart runs of one workflow ("Globex Corp, 1200 EUR" rather than the workflow's
name three times). It is rendered once, when the run starts, and kept in the run_started event,
so lists read it from the run's state instead of rendering a template per row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine import templates
from engine.decider.context import template_context
from engine.definitions.models import FormField, Option, WorkflowDefinition
from engine.errors import TemplateError
from engine.state import RunState

SUMMARY_LENGTH = 160  # characters kept of a summary (a list row, an email subject)
KEY_INPUTS = 3  # inputs shown when a workflow declares no summary
VALUE_LENGTH = 40  # characters kept of one input's value in that fallback


def run_summary(
    definition: WorkflowDefinition, inputs: Mapping[str, Any], context: Mapping[str, Any]
) -> str:
    """The workflow's `summary:` rendered with the start context, on one line; the key inputs
    when it declares none or it renders empty (a template that fails at run time, e.g. on an
    input of an unexpected type, must not stop the run: the key inputs stand in)."""
    if definition.summary:
        try:
            text = one_line(templates.render(definition.summary, context), SUMMARY_LENGTH)
        except TemplateError:
            text = ""
        if text:
            return text
    return key_inputs(definition, inputs)


def key_inputs(definition: WorkflowDefinition, inputs: Mapping[str, Any]) -> str:
    """The first few inputs that have a value, required ones first, by their labels: e.g.
    "Vendor: Globex Corp, Amount: 1200"."""
    ordered = [f for f in definition.inputs if f.required]
    ordered += [f for f in definition.inputs if not f.required]
    parts: list[str] = []
    for field in ordered:
        value = _value(field, inputs.get(field.id))
        if value:
            parts.append(f"{field.label or field.id}: {value}")
        if len(parts) == KEY_INPUTS:
            break
    return one_line(", ".join(parts), SUMMARY_LENGTH)


def step_title(definition: WorkflowDefinition, run: RunState, step_id: str) -> str:
    """A step's `title` rendered like its message (it may read inputs and earlier steps), or its
    id when it has none or the title cannot be rendered yet (it reads a step not reached)."""
    title = definition.step(step_id).title
    if not title:
        return step_id
    if "{" not in title:
        return title
    try:
        return one_line(templates.render(title, template_context(run)), SUMMARY_LENGTH) or step_id
    except TemplateError:
        return step_id


def one_line(text: str, limit: int) -> str:
    """`text` with its whitespace runs (line breaks included) made single spaces, cut to
    `limit` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def input_rows(definition: WorkflowDefinition, inputs: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, value) of every input given (not left empty), in the start form's order: what
    a page or an email lists, with labels rather than ids and option labels for options."""
    fields = {f.id: f for f in definition.inputs}
    rows: list[tuple[str, str]] = []
    for key in [*fields, *(k for k in inputs if k not in fields)]:
        if inputs.get(key) in (None, "", []):
            continue  # not given
        field = fields.get(key) or FormField.model_construct(id=key)
        value = inputs[key]
        shown = "no" if value is False else _value(field, value, None)
        rows.append((field.label or key, shown))
    return rows


def _value(field: FormField, value: Any, limit: int | None = VALUE_LENGTH) -> str:
    if value is None or value == "" or value == [] or value is False:
        return ""
    if value is True:
        return "yes"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, list):
        text = ", ".join(_option_label(field, v) for v in value)
    else:
        text = _option_label(field, value)
    return text if limit is None else one_line(text, limit)


def _option_label(field: FormField, value: Any) -> str:
    for option in field.options or ():
        if isinstance(option, Option) and option.value == value and option.label:
            return option.label
    return str(value)
