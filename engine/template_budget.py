"""How much work a template render may do, and the checks that keep one operation from building
a huge value. `template_sandbox` calls these from the hooks Jinja2 offers.

Every render carries a `Budget`: each loop iteration and macro call charges the size of its
body, filters, tests, calls and comparisons charge what they read and return. Operators that can
build a huge value from a small template (`*`, `**`, `%`, `+`, `~`, `center`, `replace`, `join`,
format widths, ...) are checked before they run, so no single step allocates more than
`MAX_VALUE` items or computes an integer past `MAX_INT_BITS`.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, NoReturn

import jinja2

MAX_LOOP_ITERATIONS = 10_000  # loop iterations in one render, all loops together
MAX_WORK = 1_000_000  # budget units in one render; a unit is about 0.1 µs of work
# What things cost in units: running one node of the template (in a loop or macro body), a call
# through the sandbox, a macro call (Jinja2 builds a frame for it), a filter or test, one step of
# walking nested data to weigh it. Reading or building data costs one unit per character or
# item on top.
NODE_UNITS, CALL_UNITS, MACRO_UNITS, FILTER_UNITS, WALK_UNITS = 20, 50, 400, 20, 5
MAX_VALUE = 200_000  # characters (or items) of a value a template may build or print
MAX_OUTPUT = 200_000  # characters a render may return
MAX_INT_BITS = 4_096  # bits of an integer a template may compute
MAX_CALL_DEPTH = 20  # nested macro calls
MAX_JSON_INDENT = 8


class LimitExceeded(jinja2.TemplateRuntimeError):
    """The template went past one of the limits above."""


def refuse(message: str) -> NoReturn:
    raise LimitExceeded(message)


class Budget:
    """What one render has spent so far."""

    def __init__(self) -> None:
        self.work = 0
        self.iterations = 0
        self.depth = 0
        # Weights already measured in this render, by id (the value is kept so the id stays
        # its own): printing the same data again must not walk it again.
        self.weights: dict[int, tuple[Any, int]] = {}

    def charge(self, units: int) -> None:
        self.work += units
        if self.work > MAX_WORK:
            refuse(
                f"the template does too much work (over {MAX_WORK:,} steps); "
                "loop over less data or simplify it"
            )

    def iterate(self, units: int) -> None:
        self.iterations += 1
        if self.iterations > MAX_LOOP_ITERATIONS:
            refuse(f"the template's loops ran more than {MAX_LOOP_ITERATIONS:,} times")
        self.charge(units)


_budget: ContextVar[Budget | None] = ContextVar("template_budget", default=None)


def spend() -> Budget:
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


# --- size checks ------------------------------------------------------------------------------


def size(value: Any) -> int:
    sized = (str, list, tuple, dict, set, frozenset, range)
    return len(value) if isinstance(value, sized) else 0


def weight(value: Any) -> int:
    """Characters and items in a value, nested ones too, counted up to just past MAX_VALUE:
    what printing it (str, JSON, join) costs. A list can hold one big string many times over.
    Walking the value is charged to the budget (it is Python work, item by item)."""
    if isinstance(value, str):
        return len(value) + 1
    if not isinstance(value, Mapping | list | tuple | set | frozenset):
        return 1
    spent = spend()
    known = spent.weights.get(id(value))
    if known is not None:
        return known[1]
    total = walked = 0
    stack = [value]
    while stack and total <= MAX_VALUE:
        item = stack.pop()
        total += 1
        walked += 1
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, Mapping):
            # Read-only copies are walked as stored: weighing them must not copy them.
            values = dict.values(item) if isinstance(item, dict) else item.values()
            total += len(item)
            stack.extend(x for x in (*item.keys(), *values) if not _scalar(x))
        elif isinstance(item, list | tuple | set | frozenset):
            total += len(item)
            items = list.__iter__(item) if isinstance(item, list) else item
            stack.extend(x for x in items if not _scalar(x))
    spent.charge(WALK_UNITS * walked)
    spent.weights[id(value)] = (value, total)
    return total


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, int | float)


def read(*values: Any) -> None:
    """Charge reading these values (a comparison, a filter's arguments): their length."""
    spend().charge(sum(1 + size(v) for v in values))


def printed(value: Any) -> None:
    """Refuse printing a value (str, JSON, join) that would be larger than MAX_VALUE."""
    size = weight(value)
    spend().charge(size)
    if size > MAX_VALUE:
        refuse(f"the template prints a value of over {MAX_VALUE:,} characters")


def check_size(size: int, what: str = "value") -> None:
    if size > MAX_VALUE:
        refuse(f"the template builds a {what} of {size:,} items (at most {MAX_VALUE:,})")


def check_value(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        if value.bit_length() > MAX_INT_BITS:
            refuse(f"the template computes a number over {MAX_INT_BITS} bits")
    else:
        check_size(size(value))
    return value


_PRINTF = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _check_printf(text: str, args: Any) -> None:
    """`"%10s" % x`: refuse `*` widths, widths past MAX_VALUE, and results past it."""
    specs = _PRINTF.findall(text)
    values = (
        args.values() if isinstance(args, Mapping) else args if isinstance(args, tuple) else [args]
    )
    largest = max((weight(v) for v in values), default=0)
    check_size(len(text) + len(specs) * largest)
    for width, precision in specs:
        for number in (width, precision):
            if number == "*":
                refuse("'*' widths in % formatting are not supported in templates")
            if number and int(number) > MAX_VALUE:
                refuse(f"a format width of {number} is too large (at most {MAX_VALUE:,})")


def check_format(text: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
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
    check_size(len(text) + len(fields) * largest)
    for _literal, _field, spec, _conversion in fields:
        if not spec:
            continue
        if "{" in spec:
            refuse("nested fields in a format spec are not supported in templates")
        for number in re.findall(r"\d+", spec):
            if int(number) > MAX_VALUE:
                refuse(f"a format width of {number} is too large (at most {MAX_VALUE:,})")


def check_binop(operator: str, left: Any, right: Any) -> None:
    if operator == "*":
        for seq, times in ((left, right), (right, left)):
            if size(seq) and isinstance(times, int):
                check_size(size(seq) * max(times, 0))
    elif operator == "**":
        ints = isinstance(left, int) and isinstance(right, int)
        if ints and right > 0 and abs(left) > 1 and left.bit_length() * right > MAX_INT_BITS:
            refuse(f"the template computes a number over {MAX_INT_BITS} bits")
    elif operator == "%" and isinstance(left, str):
        _check_printf(left, right)
    elif operator == "+" and size(left) and size(right):
        check_size(size(left) + size(right))


# --- filters and tests ------------------------------------------------------------------------


def precheck_filter(name: str, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Refuse a filter call whose result would be too large; returns the (maybe listed) value."""

    def arg(index: int, key: str, default: Any) -> Any:
        return args[index] if len(args) > index else kwargs.get(key, default)

    text = str(value) if isinstance(value, str) else ""
    if name == "center":
        check_size(max(len(text), _int(arg(0, "width", 80))))
    elif name == "indent":
        width = arg(0, "width", 4)
        per_line = len(width) if isinstance(width, str) else _int(width)
        check_size(len(text) + (text.count("\n") + 1) * per_line)
    elif name == "wordwrap":
        wrap = arg(2, "wrapstring", None) or "\n"
        check_size(len(text) + (len(text) // max(_int(arg(0, "width", 79)), 1) + 1) * len(wrap))
    elif name == "replace":
        old, new = str(arg(0, "old", "")), str(arg(1, "new", ""))
        count = arg(2, "count", None)
        hits = str(value).count(old) if count is None else min(_int(count), len(str(value)) + 1)
        check_size(len(str(value)) + hits * max(len(new) - len(old), 0))
    elif name == "join":
        items = value if isinstance(value, list | tuple) else list(value)
        check_size(len(items))
        glue = len(str(arg(0, "d", "")))
        if arg(1, "attribute", None) is None:
            check_size(sum(weight(i) for i in items) + glue * len(items))
        return items
    elif name == "format":
        _check_printf(text, kwargs or args)
    elif name == "slice":
        check_size(_int(arg(0, "slices", 1)))
    elif name == "batch":
        check_size(_int(arg(0, "linecount", 1)))
    elif name == "tojson" and _int(arg(0, "indent", 0) or 0) > MAX_JSON_INDENT:
        refuse(f"tojson indents by at most {MAX_JSON_INDENT}")
    elif name == "urlize":
        extra = sum(len(str(a)) for a in (*args, *kwargs.values()) if isinstance(a, str))
        check_size(len(text) + (len(text) // 8 + 1) * extra)
    elif name == "sum" and not isinstance(arg(1, "start", 0), int | float):
        refuse("sum adds numbers only")
    return value


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


# Filters that handle each item in Python (attribute lookups, key functions): an item costs
# about as much as a template node.


def precheck_method(text: str, name: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """String methods that can multiply their input: refuse a result past MAX_VALUE."""
    if name in ("center", "ljust", "rjust", "zfill") and args:
        check_size(_int(args[0]))
    elif name == "expandtabs":
        check_size(len(text) * max(_int(args[0]) if args else 8, 1))
    elif name == "replace" and len(args) >= 2:
        old, new = str(args[0]), str(args[1])
        hits = text.count(old) if len(args) < 3 else min(_int(args[2]), len(text) + 1)
        check_size(len(text) + hits * max(len(new) - len(old), 0))
    elif name == "join" and args:
        items = list(args[0])
        check_size(len(items))
        check_size(sum(weight(i) for i in items) + len(text) * len(items))
        return (items, *args[1:])
    return args
