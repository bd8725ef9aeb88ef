"""The Jinja2 environment templates run in: `ImmutableSandboxedEnvironment` (no internals, no
mutating methods), with every hook Jinja2 offers charging the render's budget
(`template_budget`), and the template's tree rewritten while compiling so that loops, macro
bodies, `~`, slices and comparisons charge it too (Jinja2 has no hook for those).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from functools import wraps
from itertools import islice
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import Context, LoopContext, Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace
from jinja2.visitor import NodeTransformer

from engine.template_budget import (
    CALL_UNITS,
    FILTER_UNITS,
    MACRO_UNITS,
    MAX_CALL_DEPTH,
    MAX_LOOP_ITERATIONS,
    MAX_VALUE,
    NODE_UNITS,
    check_binop,
    check_format,
    check_value,
    precheck_filter,
    precheck_method,
    printed,
    read,
    refuse,
    size,
    spend,
)
from engine.template_data import freeze


class _Namespace(Namespace):
    """`namespace()` whose attributes are size-checked: it is how a loop carries a value on."""

    def __setitem__(self, name: str, value: Any) -> None:
        check_value(value)
        super().__setitem__(name, value)


# Filters that handle each item in Python (attribute lookups, key functions): an item costs about
# as much as a template node. Filters that print their value are checked for its printed size.
_PER_ITEM = {
    *("map", "select", "reject", "selectattr", "rejectattr", "groupby", "sort", "unique"),
    *("dictsort", "min", "max", "sum", "batch", "slice", "items", "xmlattr", "urlencode"),
    *("pprint", "join"),
}
_PRINTING = {"string", "tojson", "pprint", "join", "e", "escape", "forceescape", "urlencode"}


def _metered_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    # Filters marked pass_context / pass_eval_context / pass_environment get that first.
    passes = getattr(func, "jinja_pass_arg", None) is not None

    @wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        lead, rest = (args[:1], args[1:]) if passes else ((), args)
        if not rest:  # let the filter itself report the missing argument
            return func(*args, **kwargs)
        value, spent = rest[0], spend()
        per_item = NODE_UNITS if name in _PER_ITEM else 1
        spent.charge(FILTER_UNITS + per_item * size(value))
        if name in _PRINTING or isinstance(value, str):
            printed(value)
        read(*rest[1:], *kwargs.values())
        value = precheck_filter(name, value, rest[1:], kwargs)
        result = func(*lead, value, *rest[1:], **kwargs)
        if isinstance(result, Iterator):  # map, select, ...: their cost is in running them
            result = list(islice(result, MAX_VALUE + 1))
        spent.charge(per_item * size(result))
        return check_value(result)

    return run


def _metered_test(func: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        spend().charge(FILTER_UNITS)
        read(*args, *kwargs.values())
        return func(*args, **kwargs)

    return run


def _charge_filter(value: Any, units: int) -> str:
    """`_budget_iteration` / `_budget_body`: inserted by `_Meter`, not written by authors."""
    spend().charge(units)
    return ""


def _iteration_filter(value: Any, units: int) -> str:
    spend().iterate(units)
    return ""


def _measured(value: Any) -> Any:
    """`_budget_read`: charges what a comparison will read (`x in big_list`, `a == b`)."""
    spend().charge(FILTER_UNITS)
    read(value)
    return value


def safe_range(*args: int) -> range:
    """`range()` no longer than a render may loop."""
    numbers = range(*args)
    if len(numbers) > MAX_LOOP_ITERATIONS:
        refuse(f"range() of {len(numbers):,} numbers (at most {MAX_LOOP_ITERATIONS:,})")
    return numbers


def _make_dict(**items: Any) -> dict[str, Any]:
    return dict(items)


# --- compiling: instrument loops, macros, `~` and comparisons ---------------------------------


def _count(node: nodes.Node) -> int:
    return sum(1 for _ in node.find_all(nodes.Node)) + 1


def _statement(name: str, units: int, lineno: int) -> nodes.ExprStmt:
    call = nodes.Filter(nodes.Const(""), name, [nodes.Const(units)], [], None, None)
    statement = nodes.ExprStmt(call, lineno=lineno)
    statement.set_lineno(lineno)
    return statement


class _Meter(NodeTransformer):
    """Rewrites a parsed template so that running it charges the render's budget."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        units = NODE_UNITS * sum(_count(n) for n in node.body)
        node.body.insert(0, _statement("_budget_iteration", units, node.lineno))
        return node

    def _body(self, node: nodes.Macro | nodes.CallBlock) -> nodes.Node:  # macro, call block
        self.generic_visit(node)
        units = NODE_UNITS * sum(_count(n) for n in node.body)
        node.body.insert(0, _statement("_budget_body", units, node.lineno))
        return node

    visit_Macro = visit_CallBlock = _body

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        # `a ~ b` is joined by Jinja2 without any hook; as `[a, b]|join` it is size-checked.
        self.generic_visit(node)
        items = nodes.List(node.nodes, lineno=node.lineno)
        return nodes.Filter(items, "join", [], [], None, None, lineno=node.lineno)

    def visit_Getitem(self, node: nodes.Getitem) -> nodes.Node:
        # Slices are compiled to plain Python subscripts (no sandbox hook): charge the copy.
        self.generic_visit(node)
        if isinstance(node.arg, nodes.Slice):
            node.node = self._charged(node.node)
        return node

    def visit_Compare(self, node: nodes.Compare) -> nodes.Node:
        self.generic_visit(node)
        node.expr = self._charged(node.expr)
        for operand in node.ops:
            operand.expr = self._charged(operand.expr)
        return node

    @staticmethod
    def _charged(expr: nodes.Expr) -> nodes.Expr:
        if isinstance(expr, nodes.Const):
            return expr
        return nodes.Filter(expr, "_budget_read", [], [], None, None, lineno=expr.lineno)


class _MeteredCodeGenerator(CodeGenerator):
    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        tree = _Meter().visit(node)
        tree.set_environment(self.environment)
        super().visit_Template(tree, frame)


# --- the environment ----------------------------------------------------------------------------


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
        kind = "dict" if isinstance(obj, dict) else "list" if isinstance(obj, list) else None
        return f"{kind or type(obj).__name__!r} value has no attribute {name!r}"


class Sandbox(ImmutableSandboxedEnvironment):
    """Reads keys before attributes on mappings: `steps.ticket.values` is the step's "values"
    output, not `dict.values` (Jinja2 tries attributes first). Everything else is bounding."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})
    code_generator_class = _MeteredCodeGenerator

    def __init__(self, finalize: Callable[[Any], Any]) -> None:
        super().__init__(
            autoescape=False,
            undefined=_Undefined,
            keep_trailing_newline=False,
            auto_reload=False,
            finalize=finalize,
            optimized=False,  # no folding of constant expressions while compiling
            cache_size=0,  # templates are cached by the caller
        )
        self.globals.pop("lipsum", None)  # lipsum(10**9) is one call, no loop
        self.globals.update(range=safe_range, dict=_make_dict, namespace=_Namespace)
        self.filters = {name: _metered_filter(name, f) for name, f in self.filters.items()}
        self.filters.update(
            _budget_iteration=_iteration_filter,
            _budget_body=_charge_filter,
            _budget_read=_measured,
        )
        tests: dict[str, Any] = dict(self.tests)
        self.tests = {name: _metered_test(f) for name, f in tests.items()}

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        value = super().getitem(obj, argument)
        if isinstance(argument, slice):
            spend().charge(1 + size(value))
        return value

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        # `dict.update(inputs, ...)`: methods reached through a class skip the instance checks.
        if isinstance(obj, type):
            return False
        return super().is_safe_attribute(obj, attr, value)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        check_binop(operator, left, right)
        spend().charge(1 + size(left) + size(right))
        result = check_value(super().call_binop(context, operator, left, right))
        # `inputs.tags + []` holds the original items: keep them read-only.
        return freeze(result) if isinstance(result, list) else result

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None
        text = value.__self__

        def checked(*args: Any, **kwargs: Any) -> str:
            check_format(text, args, kwargs)
            return check_value(wrapper(*args, **kwargs))  # type: ignore[no-any-return]

        return checked

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        spent = spend()
        target = getattr(__obj, "__self__", None)
        spent.charge(MACRO_UNITS if isinstance(__obj, Macro) else CALL_UNITS)
        read(target, *args, *kwargs.values())
        if isinstance(target, str):
            args = precheck_method(target, getattr(__obj, "__name__", ""), args)
        if isinstance(__obj, LoopContext) and args:  # `loop(children)` of a recursive loop
            spent.charge(size(args[0]))
        spent.depth += 1
        try:
            if spent.depth > MAX_CALL_DEPTH:
                refuse(f"macros call each other more than {MAX_CALL_DEPTH} levels deep")
            result = super().call(__context, __obj, *args, **kwargs)
        finally:
            spent.depth -= 1
        spent.charge(size(result))
        return check_value(result)
