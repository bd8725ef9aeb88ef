"""Jinja2 templates and `when:` expressions, always in the sandbox, never `eval`.

Workflow authors write `{{ inputs.amount }}` in messages, URLs and bodies, and
`inputs.amount > 1000` in `when:`. Both run in `template_sandbox.Sandbox` (Jinja2's
`ImmutableSandboxedEnvironment`, bounded) with `StrictUndefined`, so a typo fails loudly instead
of rendering as an empty string, internals (`''.__class__`) are out of reach, the data is
read-only, and a template that would do too much work fails with a clear reason.

What can be seen in the text is refused when a definition is saved (`analyze`): its size, how
deeply it nests, loops over constant ranges that would run too often. The rest is cut off while
rendering, by the render's budget.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote

import jinja2
from jinja2 import nodes
from jinja2.environment import TemplateExpression
from jinja2.parser import Parser

from engine.errors import TemplateError
from engine.template_budget import MAX_LOOP_ITERATIONS, MAX_OUTPUT, LimitExceeded, budget, printed
from engine.template_data import freeze
from engine.template_sandbox import Sandbox

MAX_TEMPLATE_CHARS = 8_000  # of one template (a message, a URL, one string of a JSON body)
MAX_NESTING = 10  # blocks ({% if %}, {% for %}) inside each other; brackets inside each other
MAX_TREE_DEPTH = 100  # of the parsed template: long operator chains (a + b + c ...) count too
MAX_OPERATOR_RUN = 20  # `not not not ...`, `- - - ...`; inline ifs in one expression

# Tags that open a block closed by `end<tag>` (`set` only in its block form).
_BLOCK_TAGS = frozenset({"if", "for", "macro", "call", "filter", "with", "autoescape", "block"})


def _finalize(value: Any) -> Any:
    printed(value)
    # An optional form field left empty is None; it should read as nothing, not as "None".
    return "" if value is None else value


class RawUrl(str):
    """A value inserted into a URL as written: made by `| raw_url`, where the author opts out of
    encoding, or by the server for a base URL it supplies itself."""


def _raw_url(value: Any) -> RawUrl:
    return RawUrl("" if value is None else value)


def _url_finalize(value: Any) -> str:
    """Values inserted into a URL are percent-encoded as one path segment (or query value), so
    an input like `../admin?x=` cannot change the path or add parameters."""
    printed(value)
    if isinstance(value, RawUrl):
        return str(value)
    text = "" if value is None else str(value)
    if text in (".", ".."):  # an HTTP client would resolve these segments away
        raise jinja2.TemplateRuntimeError(f"{text!r} cannot be inserted into a URL")
    return quote(text, safe="")


_env = Sandbox(_finalize)
_url_env = Sandbox(_url_finalize)
for _e in (_env, _url_env):
    _e.filters["raw_url"] = _raw_url

# Names every template may read besides the context (range, dict, namespace, ...).
BUILTIN_NAMES: frozenset[str] = frozenset(_env.globals)


def _where(exc: jinja2.TemplateSyntaxError) -> str:
    return f"{exc.message} (line {exc.lineno})"


def _too(message: str, lineno: int) -> jinja2.TemplateSyntaxError:
    return jinja2.TemplateSyntaxError(message, lineno)


def _scan(text: str, expression: bool) -> int:
    """Count the template's expressions and refuse deep nesting, from the tokens: the lexer
    does not recurse, Jinja2's parser does (once per bracket, block, `not` or `else ... if`)."""
    blocks = brackets = run = inline_ifs = expressions = 0
    tag: str | None = None  # the tag of the block being read, until its first token is seen
    block_set = False
    tokens = _env.lexer.tokeniter(text, None, state="variable" if expression else None)
    for lineno, token, value in tokens:
        if token in ("variable_begin", "block_begin"):
            expressions += 1
            tag = "" if token == "block_begin" else None
            run = inline_ifs = 0
            continue
        if token == "whitespace":
            continue
        if tag == "" and token == "name":
            tag = value
            blocks += value in _BLOCK_TAGS
            blocks -= value.startswith("end") and value[3:] in (*_BLOCK_TAGS, "set")
            block_set = value == "set"
            continue
        if token == "operator" and value == "=":
            block_set = False
        if token == "block_end":
            blocks += block_set
            block_set, tag = False, None
        if token == "operator" and value in "([{":
            brackets += 1
        elif token == "operator" and value in ")]}":
            brackets -= 1
        unary = (token == "name" and value == "not") or (token == "operator" and value in "+-")
        run = run + 1 if unary else 0
        inline_ifs += token == "name" and value == "if"
        if blocks > MAX_NESTING:
            raise _too(f"blocks nest more than {MAX_NESTING} deep", lineno)
        if brackets > MAX_NESTING:
            raise _too(f"brackets nest more than {MAX_NESTING} deep", lineno)
        if run > MAX_OPERATOR_RUN:
            raise _too(f"more than {MAX_OPERATOR_RUN} operators in a row", lineno)
        if inline_ifs > MAX_OPERATOR_RUN:
            raise _too(f"more than {MAX_OPERATOR_RUN} inline ifs in one expression", lineno)
    return max(expressions, 1 if expression else 0)


def _may_nest(text: str) -> bool:
    """Whether the text could pass a nesting limit at all: counting the characters that open
    a block, a bracket or a chain is an upper bound, and far cheaper than tokenizing."""
    delimiters = text.count("{{") + text.count("{%")
    brackets = text.count("(") + text.count("[") + text.count("{") - delimiters
    chains = text.count("not") + text.count("-") + text.count("+")
    return (
        text.count("{%") > MAX_NESTING
        or brackets > MAX_NESTING
        or chains > MAX_OPERATOR_RUN
        or text.count("if") > MAX_OPERATOR_RUN
    )


def _expressions(text: str, expression: bool) -> int:
    return 1 if expression else text.count("{{") + text.count("{%")


def _loop_count(node: nodes.Node) -> int | None:
    """How often a loop over `node` runs, when the text says: range() of constants, a literal."""
    if isinstance(node, nodes.List | nodes.Tuple):
        return len(node.items)
    if not (
        isinstance(node, nodes.Call)
        and isinstance(node.node, nodes.Name)
        and node.node.name == "range"
        and not node.kwargs
        and all(isinstance(a, nodes.Const) and type(a.value) is int for a in node.args)
    ):
        return None
    try:
        return len(range(*(a.value for a in node.args if isinstance(a, nodes.Const))))
    except (TypeError, ValueError):
        return None


def _check_tree(tree: nodes.Template) -> list[nodes.Node]:
    """Refuse trees too deep to compile safely, and loops whose counts multiply past the limit
    (walked with a stack: a deep tree must not be what makes this check recurse). Returns
    every node, for the references."""
    stack: list[tuple[nodes.Node, int, int]] = [(tree, 1, 1)]
    seen: list[nodes.Node] = []
    while stack:
        node, depth, runs = stack.pop()
        seen.append(node)
        if depth > MAX_TREE_DEPTH:
            raise _too(
                f"the template nests too deeply (over {MAX_TREE_DEPTH} levels of "
                "expressions and blocks)",
                node.lineno,
            )
        count = _loop_count(node) if isinstance(node, nodes.Call) else None
        if count is not None and count > MAX_LOOP_ITERATIONS:
            raise _too(
                f"range() of {count:,} numbers (at most {MAX_LOOP_ITERATIONS:,})", node.lineno
            )
        inner = runs
        if isinstance(node, nodes.For):
            count = _loop_count(node.iter)
            inner = runs * (count if count is not None else 1)
            if inner > MAX_LOOP_ITERATIONS:
                raise _too(
                    f"these loops would run {inner:,} times (at most {MAX_LOOP_ITERATIONS:,})",
                    node.lineno,
                )
        for child in node.iter_child_nodes():
            at_iter = isinstance(node, nodes.For) and child is node.iter
            stack.append((child, depth + 1, runs if at_iter else inner))
    return seen


def _parse(
    env: jinja2.Environment, text: str, expression: bool
) -> tuple[nodes.Template, int, list[nodes.Node]]:
    """The checked tree of a template (or of a `when:` expression, as `result = ...`), its
    number of expressions and all its nodes; raises TemplateSyntaxError with a line."""
    if len(text) > MAX_TEMPLATE_CHARS:
        raise _too(
            f"the template is {len(text):,} characters long (at most {MAX_TEMPLATE_CHARS:,})", 1
        )
    count = _scan(text, expression) if _may_nest(text) else _expressions(text, expression)
    try:
        if expression:
            parser = Parser(env, text, state="variable")
            expr = parser.parse_expression()
            if not parser.stream.eos:
                token = parser.stream.current
                raise _too(f"unexpected {token.value!r} after the expression", token.lineno)
            target = nodes.Name("result", "store", lineno=1)
            tree = nodes.Template([nodes.Assign(target, expr, lineno=1)], lineno=1)
        else:
            tree = env.parse(text)
    except RecursionError:
        raise _too("the template nests too deeply", 1) from None
    return tree, count, _check_tree(tree)


@lru_cache(maxsize=1024)
def _template(text: str, url: bool = False) -> jinja2.Template:
    env = _url_env if url else _env
    tree = _parse(env, text, expression=False)[0]
    tree.set_environment(env)
    return env.from_string(tree)


@lru_cache(maxsize=1024)
def _expression(text: str) -> TemplateExpression:
    tree = _parse(_env, text, expression=True)[0]
    tree.set_environment(_env)
    return TemplateExpression(_env.from_string(tree), undefined_to_none=False)


def _short(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."


def _failure(kind: str, text: str, exc: BaseException) -> TemplateError:
    if isinstance(exc, jinja2.TemplateSyntaxError):
        why = _where(exc)
    elif isinstance(exc, jinja2.TemplateError):
        why = exc.message or str(exc)
    elif isinstance(exc, RecursionError):
        why = "the template nests or recurses too deeply"
    else:
        why = str(exc)
    return TemplateError(f"{kind} {_short(text)!r}: {why}")


_FAILURES = (jinja2.TemplateError, TypeError, ValueError, ArithmeticError, LookupError)


def _render(template: str, context: Mapping[str, Any], url: bool) -> str:
    try:
        with budget():
            out: list[str] = []
            size = 0
            for chunk in _template(template, url).generate(freeze(context)):
                size += len(chunk)
                if size > MAX_OUTPUT:
                    raise LimitExceeded(f"the output is over {MAX_OUTPUT:,} characters long")
                out.append(chunk)
            return "".join(out)
    except (*_FAILURES, RecursionError) as exc:
        raise _failure("template", template, exc) from None


def render(template: str, context: Mapping[str, Any]) -> str:
    """Render a text template; raises TemplateError naming what is undefined, malformed or over
    a limit."""
    return _render(template, context, url=False)


def render_url(template: str, context: Mapping[str, Any]) -> str:
    """Render an http step's `url`: every inserted value is percent-encoded as a path segment,
    except one passed through `| raw_url`."""
    return _render(template, context, url=True)


def render_value(value: Any, context: Mapping[str, Any]) -> Any:
    """Render every string inside dicts and lists (JSON bodies, headers); keep other values."""
    return _render_value(value, freeze(context))


def _render_value(value: Any, context: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        return render(value, context)
    if isinstance(value, Mapping):
        return {k: _render_value(v, context) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_render_value(v, context) for v in value]
    return value


def evaluate(expression: str, context: Mapping[str, Any]) -> bool:
    """Evaluate a `when:` expression to a bool; raises TemplateError on any failure."""
    try:
        with budget():
            return bool(_expression(expression)(**freeze(context)))
    except (*_FAILURES, RecursionError) as exc:
        raise _failure("condition", expression, exc) from None


def is_template(text: str) -> bool:
    """Whether Jinja2 would read anything but plain text in `text`."""
    return "{{" in text or "{%" in text or "{#" in text


@dataclass(frozen=True)
class Analysis:
    """What a definition check needs to know of one template."""

    error: str | None = None  # the syntax error or limit passed, with its line
    expressions: int = 0  # `{{ }}` and `{% %}` in it (a `when:` expression is one)
    references: frozenset[tuple[str, str | None]] = frozenset()


def analyze(text: str, *, expression: bool = False) -> Analysis:
    """Parse once: the syntax error (or limit passed), expression count and references."""
    try:
        _tree, count, every = _parse(_env, text, expression)
        return Analysis(expressions=count, references=frozenset(_references(every)))
    except jinja2.TemplateSyntaxError as exc:
        return Analysis(error=_where(exc))
    except RecursionError:
        return Analysis(error="the template nests too deeply")


def check_syntax(text: str, *, expression: bool = False) -> str | None:
    """The syntax error in a template (or `when:` expression) with its line, or None."""
    return analyze(text, expression=expression).error


def references(text: str, *, expression: bool = False) -> set[tuple[str, str | None]]:
    """The (root, first attribute) pairs a template reads, e.g. ("steps", "manager").

    Only names the context must supply count: loop variables and `{% set %}` names do not. The
    attribute is None when the root is used whole or indexed by something not constant.
    Raises TemplateError if the text does not parse.
    """
    found = analyze(text, expression=expression)
    if found.error is not None:
        raise TemplateError(found.error)
    return set(found.references)


# Names a template may read without the context supplying them.
_IMPLICIT = frozenset({"loop", "caller", "varargs", "kwargs", "self", "super"})


def _references(every: list[nodes.Node]) -> set[tuple[str, str | None]]:
    # Names assigned anywhere in the template ({% set %}, loop targets, macro names and
    # arguments) are its own; Jinja2's meta.find_undeclared_variables would compile the whole
    # template to say so, which costs more than everything else a check does.
    names = [n for n in every if isinstance(n, nodes.Name)]
    own = {n.name for n in names if n.ctx in ("store", "param")}
    own |= {m.name for m in every if isinstance(m, nodes.Macro)}
    free = {n.name for n in names if n.ctx == "load"} - own - _IMPLICIT - BUILTIN_NAMES
    found: set[tuple[str, str | None]] = set()
    attributed: set[int] = set()
    for node in every:
        if not isinstance(node, nodes.Getattr | nodes.Getitem):
            continue
        inner = node.node
        if not isinstance(inner, nodes.Name) or inner.name not in free:
            continue
        attr: Any = node.attr if isinstance(node, nodes.Getattr) else None
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            attr = node.arg.value
        found.add((inner.name, attr if isinstance(attr, str) else None))
        attributed.add(id(inner))
    for name in names:
        if name.ctx == "load" and name.name in free and id(name) not in attributed:
            found.add((name.name, None))
    return found


def mrkdwn_escape(text: str) -> str:
    """Escape &, < and > as Slack asks, so user text cannot ping @channel or forge links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
