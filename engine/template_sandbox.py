"""The Jinja2 environment templates run in: read-only, and bounded in the work it may do.

A workflow author's template runs inside the server's process, on its event loop, for every
tenant. So besides Jinja2's `ImmutableSandboxedEnvironment` (no internals, no mutating methods),
every render carries a `Budget`, and the hooks Jinja2 offers charge it:

- each loop iteration and each macro call charges the size of its body (a statement counted
  once is cheap; a loop multiplies it), and loop iterations are counted on their own;
- filters, tests, method calls and comparisons charge the size of what they read and return;
- operators that can build a huge value from a small template (`*`, `**`, `%`, `+`, `~`,
  `center`, `replace`, `join`, format widths, ...) are checked *before* they run, so no single
  step can allocate more than `MAX_VALUE` items or an integer past `MAX_INT_BITS`.

The data a template sees is deep-copied into read-only dicts and lists first, so nothing a
template does can change a run's inputs or outputs.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps
from itertools import islice
from typing import Any, NoReturn

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import Context, LoopContext, Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace
from jinja2.visitor import NodeTransformer

MAX_LOOP_ITERATIONS = 10_000  # loop iterations in one render, all loops together
MAX_WORK = 1_000_000  # budget units in one render; a unit is about 0.1 µs of work
# What things cost in units: running one node of the template (in a loop or macro body), a call
# through the sandbox, a macro call (Jinja2 builds a frame for it), a filter or test. Reading or
# building data costs one unit per character or item on top.
NODE_UNITS, CALL_UNITS, MACRO_UNITS, FILTER_UNITS = 20, 50, 400, 20
MAX_VALUE = 200_000  # characters (or items) of a value a template may build or print
MAX_OUTPUT = 200_000  # characters a render may return
MAX_INT_BITS = 4_096  # bits of an integer a template may compute
MAX_CALL_DEPTH = 20  # nested macro calls
MAX_JSON_INDENT = 8


class LimitExceeded(jinja2.TemplateRuntimeError):
    """The template went past one of the limits above."""


def _refuse(message: str) -> NoReturn:
    raise LimitExceeded(message)


class Budget:
    """What one render has spent so far."""

    def __init__(self) -> None:
        self.work = 0
        self.iterations = 0
        self.depth = 0

    def charge(self, units: int) -> None:
        self.work += units
        if self.work > MAX_WORK:
            _refuse(
                f"the template does too much work (over {MAX_WORK:,} steps); "
                "loop over less data or simplify it"
            )

    def iterate(self, units: int) -> None:
        self.iterations += 1
        if self.iterations > MAX_LOOP_ITERATIONS:
            _refuse(f"the template's loops ran more than {MAX_LOOP_ITERATIONS:,} times")
        self.charge(units)


_budget: ContextVar[Budget | None] = ContextVar("template_budget", default=None)


def _spend() -> Budget:
    # Outside a render (Jinja2 folding constants while compiling) a throwaway budget still
    # lets the size checks run; the limits on totals apply to renders.
    return _budget.get() or Budget()


@contextmanager
def budget() -> Iterator[Budget]:
    """Give the renders inside the block one fresh budget."""
    token = _budget.set(Budget())
    try:
        yield _budget.get() or Budget()
    finally:
        _budget.reset(token)


# --- read-only data -------------------------------------------------------------------------


def _read_only(self: Any, *args: Any, **kwargs: Any) -> NoReturn:
    raise TypeError("template data is read-only")


class ReadOnlyDict(dict[Any, Any]):
    """A read-only copy of a dict, made one level at a time: its values are the original ones
    until read, and are read as read-only copies in turn. So a render costs what it reads, not
    the size of the run's data. str() and JSON look like a dict's."""

    __slots__ = ("_weight",)
    _weight: int
    __setitem__ = __delitem__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only

    def __getitem__(self, key: Any) -> Any:
        value = dict.__getitem__(self, key)
        if _writable(value):
            value = freeze(value)
            dict.__setitem__(self, key, value)  # this copy is private: keep what was made
        return value

    def __iter__(self) -> Iterator[Any]:
        # Defined so that dict(x) and f(**x) read values through __getitem__, not directly.
        return dict.__iter__(self)

    def get(self, key: Any, default: Any = None) -> Any:
        return self[key] if key in self else default  # noqa: SIM401 (self.get is this)

    def values(self) -> list[Any]:  # type: ignore[override]
        return [self[k] for k in self]

    def items(self) -> list[tuple[Any, Any]]:  # type: ignore[override]
        return [(k, self[k]) for k in self]

    def copy(self) -> ReadOnlyDict:
        return self


class ReadOnlyList(list[Any]):
    """A read-only copy of a list, made one level at a time like ReadOnlyDict."""

    __slots__ = ("_weight",)
    _weight: int
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _read_only
    append = extend = insert = pop = remove = reverse = sort = clear = _read_only

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return ReadOnlyList(list.__getitem__(self, index))
        value = list.__getitem__(self, index)
        if _writable(value):
            value = freeze(value)
            list.__setitem__(self, index, value)
        return value

    def __iter__(self) -> Iterator[Any]:
        return (self[i] for i in range(len(self)))

    def __reversed__(self) -> Iterator[Any]:
        return (self[i] for i in reversed(range(len(self))))

    def copy(self) -> ReadOnlyList:
        return self


def _writable(value: Any) -> bool:
    return isinstance(value, dict | list | tuple | set) and not isinstance(
        value, ReadOnlyDict | ReadOnlyList
    )


def freeze(value: Any) -> Any:
    """A read-only copy of JSON-like data; nested values are copied when first read."""
    if isinstance(value, ReadOnlyDict | ReadOnlyList):
        return value
    if isinstance(value, Mapping):
        return ReadOnlyDict(value)
    if isinstance(value, list | tuple):
        return ReadOnlyList(value)
    if isinstance(value, set | frozenset):
        return frozenset(value)
    return value


class _Namespace(Namespace):
    """`namespace()` whose attributes are size-checked: it is how a loop carries a value on."""

    def __setitem__(self, name: str, value: Any) -> None:
        _check_value(value)
        super().__setitem__(name, value)


# --- size checks ------------------------------------------------------------------------------


def _size(value: Any) -> int:
    sized = (str, list, tuple, dict, set, frozenset, range)
    return len(value) if isinstance(value, sized) else 0


def weight(value: Any) -> int:
    """Characters and items in a value, nested ones too, counted up to just past MAX_VALUE:
    what printing it (str, JSON, join) costs. A list can hold one big string many times over.
    Read-only data cannot change, so its weight is kept."""
    if isinstance(value, str):
        return len(value) + 1
    if not isinstance(value, Mapping | list | tuple | set | frozenset):
        return 1
    known = getattr(value, "_weight", None)
    if known is not None:
        return int(known)
    total, stack = 0, [value]
    while stack and total <= MAX_VALUE:
        item = stack.pop()
        total += 1
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, Mapping):
            # Read-only copies are walked as stored: weighing them must not copy them.
            values = dict.values(item) if isinstance(item, dict) else item.values()
            total += len(item)
            stack.extend(x for x in (*item.keys(), *values) if not _scalar(x))
        elif isinstance(item, list | tuple | set | frozenset):
            total += len(item)
            stack.extend(
                x
                for x in (list.__iter__(item) if isinstance(item, list) else item)
                if not _scalar(x)
            )
    if isinstance(value, ReadOnlyDict | ReadOnlyList):
        value._weight = total
    return total


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, int | float)


def _read(*values: Any) -> None:
    """Charge reading these values (a comparison, a filter's arguments): their length."""
    _spend().charge(sum(1 + _size(v) for v in values))


def printed(value: Any) -> None:
    """Refuse printing a value (str, JSON, join) that would be larger than MAX_VALUE."""
    size = weight(value)
    _spend().charge(size)
    if size > MAX_VALUE:
        _refuse(f"the template prints a value of over {MAX_VALUE:,} characters")


def _check_size(size: int, what: str = "value") -> None:
    if size > MAX_VALUE:
        _refuse(f"the template builds a {what} of {size:,} items (at most {MAX_VALUE:,})")


def _check_value(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        if value.bit_length() > MAX_INT_BITS:
            _refuse(f"the template computes a number over {MAX_INT_BITS} bits")
    else:
        _check_size(_size(value))
    return value


_PRINTF = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _check_printf(text: str, args: Any) -> None:
    """`"%10s" % x`: refuse `*` widths, widths past MAX_VALUE, and results past it."""
    specs = _PRINTF.findall(text)
    values = (
        args.values() if isinstance(args, Mapping) else args if isinstance(args, tuple) else [args]
    )
    largest = max((weight(v) for v in values), default=0)
    _check_size(len(text) + len(specs) * largest)
    for width, precision in specs:
        for number in (width, precision):
            if number == "*":
                _refuse("'*' widths in % formatting are not supported in templates")
            if number and int(number) > MAX_VALUE:
                _refuse(f"a format width of {number} is too large (at most {MAX_VALUE:,})")


def _check_format(text: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """`"{:>10}".format(x)`: refuse nested fields in a spec, widths and results past MAX_VALUE."""
    try:
        fields = list(string.Formatter().parse(text))
    except ValueError:
        return  # str.format will report the malformed string itself
    values = [
        *args,
        *kwargs.values(),
        *(v for a in args if isinstance(a, Mapping) for v in a.values()),
    ]
    largest = max((weight(v) for v in values), default=0)
    _check_size(len(text) + len(fields) * largest)
    for _literal, _field, spec, _conversion in fields:
        if not spec:
            continue
        if "{" in spec:
            _refuse("nested fields in a format spec are not supported in templates")
        for number in re.findall(r"\d+", spec):
            if int(number) > MAX_VALUE:
                _refuse(f"a format width of {number} is too large (at most {MAX_VALUE:,})")


def _check_binop(operator: str, left: Any, right: Any) -> None:
    if operator == "*":
        for seq, times in ((left, right), (right, left)):
            if _size(seq) and isinstance(times, int):
                _check_size(_size(seq) * max(times, 0))
    elif operator == "**":
        ints = isinstance(left, int) and isinstance(right, int)
        if ints and right > 0 and abs(left) > 1 and left.bit_length() * right > MAX_INT_BITS:
            _refuse(f"the template computes a number over {MAX_INT_BITS} bits")
    elif operator == "%" and isinstance(left, str):
        _check_printf(left, right)
    elif operator == "+" and _size(left) and _size(right):
        _check_size(_size(left) + _size(right))


# --- filters and tests ------------------------------------------------------------------------


def _precheck_filter(name: str, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Refuse a filter call whose result would be too large; returns the (maybe listed) value."""

    def arg(index: int, key: str, default: Any) -> Any:
        return args[index] if len(args) > index else kwargs.get(key, default)

    text = str(value) if isinstance(value, str) else ""
    if name == "center":
        _check_size(max(len(text), _int(arg(0, "width", 80))))
    elif name == "indent":
        width = arg(0, "width", 4)
        per_line = len(width) if isinstance(width, str) else _int(width)
        _check_size(len(text) + (text.count("\n") + 1) * per_line)
    elif name == "wordwrap":
        wrap = arg(2, "wrapstring", None) or "\n"
        _check_size(len(text) + (len(text) // max(_int(arg(0, "width", 79)), 1) + 1) * len(wrap))
    elif name == "replace":
        old, new = str(arg(0, "old", "")), str(arg(1, "new", ""))
        count = arg(2, "count", None)
        hits = str(value).count(old) if count is None else min(_int(count), len(str(value)) + 1)
        _check_size(len(str(value)) + hits * max(len(new) - len(old), 0))
    elif name == "join":
        items = value if isinstance(value, list | tuple) else list(value)
        _check_size(len(items))
        glue = len(str(arg(0, "d", "")))
        if arg(1, "attribute", None) is None:
            _check_size(sum(weight(i) for i in items) + glue * len(items))
        return items
    elif name == "format":
        _check_printf(text, kwargs or args)
    elif name == "slice":
        _check_size(_int(arg(0, "slices", 1)))
    elif name == "batch":
        _check_size(_int(arg(0, "linecount", 1)))
    elif name == "tojson" and _int(arg(0, "indent", 0) or 0) > MAX_JSON_INDENT:
        _refuse(f"tojson indents by at most {MAX_JSON_INDENT}")
    elif name == "urlize":
        extra = sum(len(str(a)) for a in (*args, *kwargs.values()) if isinstance(a, str))
        _check_size(len(text) + (len(text) // 8 + 1) * extra)
    elif name == "sum" and not isinstance(arg(1, "start", 0), int | float):
        _refuse("sum adds numbers only")
    return value


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


# Filters that handle each item in Python (attribute lookups, key functions): an item costs
# about as much as a template node.
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
        value, spent = rest[0], _spend()
        per_item = NODE_UNITS if name in _PER_ITEM else 1
        spent.charge(FILTER_UNITS + per_item * _size(value))
        if name in _PRINTING or isinstance(value, str):
            printed(value)
        _read(*rest[1:], *kwargs.values())
        value = _precheck_filter(name, value, rest[1:], kwargs)
        result = func(*lead, value, *rest[1:], **kwargs)
        if isinstance(result, Iterator):  # map, select, ...: their cost is in running them
            result = list(islice(result, MAX_VALUE + 1))
        spent.charge(per_item * _size(result))
        return _check_value(result)

    return run


def _metered_test(func: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        _spend().charge(FILTER_UNITS)
        _read(*args, *kwargs.values())
        return func(*args, **kwargs)

    return run


def _charge_filter(value: Any, units: int) -> str:
    """`_budget_iteration` / `_budget_body`: inserted by `_Meter`, not written by authors."""
    _spend().charge(units)
    return ""


def _iteration_filter(value: Any, units: int) -> str:
    _spend().iterate(units)
    return ""


def _measured(value: Any) -> Any:
    """`_budget_read`: charges what a comparison will read (`x in big_list`, `a == b`)."""
    _spend().charge(FILTER_UNITS)
    _read(value)
    return value


def safe_range(*args: int) -> range:
    """`range()` no longer than a render may loop."""
    numbers = range(*args)
    if len(numbers) > MAX_LOOP_ITERATIONS:
        _refuse(f"range() of {len(numbers):,} numbers (at most {MAX_LOOP_ITERATIONS:,})")
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
            node.node = self._read(node.node)
        return node

    def visit_Compare(self, node: nodes.Compare) -> nodes.Node:
        self.generic_visit(node)
        node.expr = self._read(node.expr)
        for operand in node.ops:
            operand.expr = self._read(operand.expr)
        return node

    @staticmethod
    def _read(expr: nodes.Expr) -> nodes.Expr:
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
            _spend().charge(1 + _size(value))
        return value

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        # `dict.update(inputs, ...)`: methods reached through a class skip the instance checks.
        if isinstance(obj, type):
            return False
        return super().is_safe_attribute(obj, attr, value)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _check_binop(operator, left, right)
        _spend().charge(1 + _size(left) + _size(right))
        result = _check_value(super().call_binop(context, operator, left, right))
        # `inputs.tags + []` holds the original items: keep them read-only.
        return freeze(result) if isinstance(result, list) else result

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None
        text = value.__self__

        def checked(*args: Any, **kwargs: Any) -> str:
            _check_format(text, args, kwargs)
            return _check_value(wrapper(*args, **kwargs))  # type: ignore[no-any-return]

        return checked

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        spent = _spend()
        target = getattr(__obj, "__self__", None)
        spent.charge(MACRO_UNITS if isinstance(__obj, Macro) else CALL_UNITS)
        _read(target, *args, *kwargs.values())
        if isinstance(target, str):
            args = _precheck_method(target, getattr(__obj, "__name__", ""), args)
        if isinstance(__obj, LoopContext) and args:  # `loop(children)` of a recursive loop
            spent.charge(_size(args[0]))
        spent.depth += 1
        try:
            if spent.depth > MAX_CALL_DEPTH:
                _refuse(f"macros call each other more than {MAX_CALL_DEPTH} levels deep")
            result = super().call(__context, __obj, *args, **kwargs)
        finally:
            spent.depth -= 1
        spent.charge(_size(result))
        return _check_value(result)


def _precheck_method(text: str, name: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """String methods that can multiply their input: refuse a result past MAX_VALUE."""
    if name in ("center", "ljust", "rjust", "zfill") and args:
        _check_size(_int(args[0]))
    elif name == "expandtabs":
        _check_size(len(text) * max(_int(args[0]) if args else 8, 1))
    elif name == "replace" and len(args) >= 2:
        old, new = str(args[0]), str(args[1])
        hits = text.count(old) if len(args) < 3 else min(_int(args[2]), len(text) + 1)
        _check_size(len(text) + hits * max(len(new) - len(old), 0))
    elif name == "join" and args:
        items = list(args[0])
        _check_size(len(items))
        _check_size(sum(weight(i) for i in items) + len(text) * len(items))
        return (items, *args[1:])
    return args
