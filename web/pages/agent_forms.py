"""The web form's part for an agent's approval request (the run page and the emailed link's
page): each editable argument is a JSON text box named `arg.<name>`, and the standing grant a
choice of hours; this turns what was posted into the decision form's values the engine checks."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from multidict import MultiDictProxy

from engine import ARGUMENTS_FIELD, GRANT_FIELD, InvalidInput, RunState, agent_request, parse_edits

ARG = "arg."  # form name prefix of an editable argument
GRANT_HOURS = (1, 2, 4, 8, 24, 72, 168)


def typed_args(form: MultiDictProxy[Any]) -> dict[str, str]:
    """The argument boxes as posted (shown again when something needs fixing)."""
    return {str(k): str(v) for k, v in form.items() if str(k).startswith(ARG)}


def with_edits(
    run: RunState, decision: str, values: Mapping[str, Any], typed: Mapping[str, str]
) -> dict[str, Any]:
    """`values` with the edited arguments (when they differ from the request's). Raises
    InvalidInput keyed by the argument's box (`arg.<name>`) when one is not JSON."""
    out = dict(values)
    request = agent_request(run)
    if request is None:
        return out
    if decision != "approve":
        out.pop(ARGUMENTS_FIELD, None)
        out.pop(GRANT_FIELD, None)
        return out
    texts = {k.removeprefix(ARG): v for k, v in typed.items()}
    try:
        edited = parse_edits(request, texts)
    except InvalidInput as bad:
        raise InvalidInput({ARG + k: v for k, v in bad.errors.items()}) from bad
    if edited != request.arguments:
        out[ARGUMENTS_FIELD] = json.dumps(edited, sort_keys=True, ensure_ascii=False)
    else:
        out.pop(ARGUMENTS_FIELD, None)
    return out


def grant_choices(max_hours: int) -> list[int]:
    return sorted({h for h in GRANT_HOURS if h < max_hours} | {max_hours})


def arg_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)
