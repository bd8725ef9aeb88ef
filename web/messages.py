"""The text a step shows people (its `message:` template), rendered the same way for email, the
link pages and the dashboard."""

from __future__ import annotations

from typing import Any

from engine import EngineError, RunState, template_context, templates


def step_message(spec: Any, run: RunState) -> str:
    """The step's rendered `message`, or "" when it has none. A template that no longer renders
    (e.g. it names a step output that is missing) shows as written rather than not at all."""
    text = getattr(spec, "message", None)
    if not text:
        return ""
    try:
        return templates.render(str(text), template_context(run))
    except EngineError:
        return str(text)
