"""Jinja2 templates and `when:` expressions, always in the sandbox, never `eval`.

Workflow authors write `{{ inputs.amount }}` in messages, URLs and bodies, and
`inputs.amount > 1000` in `when:`. Both run in Jinja2's `SandboxedEnvironment` with
`StrictUndefined`, so a typo fails loudly instead of rendering as an empty string, and internals
(`''.__class__`) are out of reach.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.parser import Parser
from jinja2.sandbox import SandboxedEnvironment

from engine.errors import TemplateError


class _Undefined(jinja2.StrictUndefined):
    """StrictUndefined whose message names the missing key and the keys that do exist."""

    @property
    def _undefined_message(self) -> str:
        if self._undefined_hint:
            return self._undefined_hint
        obj, name = self._undefined_obj, self._undefined_name
        if obj is jinja2.utils.missing:
            return f"{name!r} is undefined"
        if isinstance(obj, Mapping):
            known = ", ".join(sorted(str(k) for k in obj)) or "none"
            return f"no key {name!r} (known keys: {known})"
        return f"{type(obj).__name__!r} value has no attribute {name!r}"


def _finalize(value: Any) -> Any:
    # An optional form field left empty is None; it should read as nothing, not as "None".
    return "" if value is None else value


class _Environment(SandboxedEnvironment):
    """Reads keys before attributes on mappings: `steps.ticket.values` is the step's "values"
    output, not `dict.values` (Jinja2 tries attributes first)."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


_env = _Environment(
    autoescape=False,
    undefined=_Undefined,
    keep_trailing_newline=False,
    auto_reload=False,
    finalize=_finalize,
)

# Names every template may read besides the context (range, dict, namespace, ...).
BUILTIN_NAMES: frozenset[str] = frozenset(_env.globals)


def _where(exc: jinja2.TemplateSyntaxError) -> str:
    return f"{exc.message} (line {exc.lineno})"


@lru_cache(maxsize=1024)
def _template(text: str) -> jinja2.Template:
    return _env.from_string(text)


def _parse_expression(text: str) -> nodes.Expr:
    parser = Parser(_env, text, state="variable")
    expr = parser.parse_expression()
    if not parser.stream.eos:
        token = parser.stream.current
        raise jinja2.TemplateSyntaxError(
            f"unexpected {token.value!r} after the expression", token.lineno
        )
    return expr


@lru_cache(maxsize=1024)
def _expression(text: str) -> Any:
    _parse_expression(text)  # rejects trailing tokens that compile_expression would also refuse
    return _env.compile_expression(text, undefined_to_none=False)


def _short(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."


def render(template: str, context: Mapping[str, Any]) -> str:
    """Render a text template; raises TemplateError naming what is undefined or malformed."""
    try:
        return _template(template).render(context)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"template {_short(template)!r}: {_where(exc)}") from None
    except jinja2.TemplateError as exc:
        raise TemplateError(f"template {_short(template)!r}: {exc.message}") from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise TemplateError(f"template {_short(template)!r}: {exc}") from None


def render_value(value: Any, context: Mapping[str, Any]) -> Any:
    """Render every string inside dicts and lists (JSON bodies, headers); keep other values."""
    if isinstance(value, str):
        return render(value, context)
    if isinstance(value, Mapping):
        return {k: render_value(v, context) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [render_value(v, context) for v in value]
    return value


def evaluate(expression: str, context: Mapping[str, Any]) -> bool:
    """Evaluate a `when:` expression to a bool; raises TemplateError on any failure."""
    try:
        return bool(_expression(expression)(**context))
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"condition {_short(expression)!r}: {_where(exc)}") from None
    except jinja2.TemplateError as exc:
        raise TemplateError(f"condition {_short(expression)!r}: {exc.message}") from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise TemplateError(f"condition {_short(expression)!r}: {exc}") from None


def check_syntax(text: str, *, expression: bool = False) -> str | None:
    """The syntax error in a template (or `when:` expression) with its line, or None."""
    try:
        if expression:
            _parse_expression(text)
        else:
            _env.parse(text)
    except jinja2.TemplateSyntaxError as exc:
        return _where(exc)
    return None


def references(text: str, *, expression: bool = False) -> set[tuple[str, str | None]]:
    """The (root, first attribute) pairs a template reads, e.g. ("steps", "manager").

    Only names the context must supply count: loop variables and `{% set %}` names do not. The
    attribute is None when the root is used whole or indexed by something not constant.
    Raises TemplateError if the text does not parse.
    """
    try:
        if expression:
            tree = nodes.Template([nodes.Output([_parse_expression(text)], lineno=1)], lineno=1)
            tree.set_environment(_env)
        else:
            tree = _env.parse(text)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(_where(exc)) from None
    free = meta.find_undeclared_variables(tree)
    found: set[tuple[str, str | None]] = set()
    attributed: set[int] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        assert isinstance(node, nodes.Getattr | nodes.Getitem)
        inner = node.node
        if not isinstance(inner, nodes.Name) or inner.name not in free:
            continue
        attr: Any = node.attr if isinstance(node, nodes.Getattr) else None
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            attr = node.arg.value
        found.add((inner.name, attr if isinstance(attr, str) else None))
        attributed.add(id(inner))
    for name in tree.find_all(nodes.Name):
        if name.ctx == "load" and name.name in free and id(name) not in attributed:
            found.add((name.name, None))
    return found


def mrkdwn_escape(text: str) -> str:
    """Escape &, < and > as Slack asks, so user text cannot ping @channel or forge links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
