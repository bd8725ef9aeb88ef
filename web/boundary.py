"""What the web refuses at its door, before anything reaches the engine or the database: JSON
bodies nested deeper than `MAX_DEPTH`, `NaN`/`Infinity`, and — in bodies, query strings, path
segments and headers — values `engine.forms.value_problem` rejects (text with a NUL character
or an unpaired surrogate, integers beyond 64 bits, numbers that are not finite). Each refusal
is a 4xx naming the field."""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Iterator
from typing import Any

from aiohttp import web

from engine import value_problem
from web.errors import ApiError, Handler

# Deep enough for any workflow definition or signal payload; shallow enough that parsing and
# every later walk over the value stay far from Python's recursion limit.
MAX_DEPTH = 64

# JSON string literals (escapes included), then everything that is not a bracket: what is left
# of a body once both are removed is its bracket structure.
_STRINGS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")


def too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether the JSON text nests arrays and objects deeper than `limit`, found without
    parsing it (the parser itself recurses, so a deep body must never reach it)."""
    depth = 0
    for bracket in _NOT_BRACKETS.sub("", _STRINGS.sub("", text)):
        if bracket in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _problems(value: Any, path: str) -> Iterator[dict[str, str]]:
    """Every bad value (and key) inside a parsed JSON value, by its dotted path."""
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            problem = value_problem(key)
            if problem is not None:
                yield {"field": where, "message": f"the name {problem}"}
            yield from _problems(item, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _problems(item, f"{path}.{index}" if path else str(index))
    else:
        problem = value_problem(value)
        if problem is not None:
            yield {"field": path or "(top level)", "message": problem}


def parse_json(raw: bytes) -> Any:
    """The request body's JSON value, or an `ApiError`: 400 when it is not JSON or nests too
    deep, 422 naming each field whose value no input may hold."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "bad_json", f"the request body is not UTF-8: {exc}") from exc
    if too_deep(text):
        raise ApiError(
            400,
            "bad_json",
            f"the request body nests arrays or objects deeper than {MAX_DEPTH} levels",
            [{"field": "(request body)", "message": f"nested deeper than {MAX_DEPTH} levels"}],
        )
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except ValueError as exc:
        raise ApiError(400, "bad_json", f"the request body is not valid JSON: {exc}") from exc
    details = list(_problems(data, ""))
    if details:
        fields = ", ".join(d["field"] for d in details)
        raise ApiError(422, "invalid_request", f"the request body is not valid: {fields}", details)
    return data


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison of a token a request carries with the expected one; text that is
    not ASCII (which `hmac.compare_digest` refuses on str) simply does not match."""
    encoded = given.encode("utf-8", "surrogateescape")
    return hmac.compare_digest(encoded, expected.encode("utf-8", "surrogateescape"))


def check_text(field: str, value: str) -> None:
    """Refuse (400) one text parameter, e.g. a header, that no input may hold."""
    problem = value_problem(value)
    if problem is not None:
        raise ApiError(
            400, "bad_request", f"{field} {problem}", [{"field": field, "message": problem}]
        )


FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


@web.middleware
async def request_values(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a path segment or query parameter no input may hold (a `%00` would otherwise
    reach the database), on the API as a JSON 400 naming it and on pages as an error page; and
    a page's form that is not UTF-8 (read here once: aiohttp keeps it for the handler). What
    is typed into a form is the engine's to check, so the page can show the error beside it."""
    params = [("path parameter", k, v) for k, v in request.match_info.items()]
    params += [("query parameter", k, f"{k}={v}") for k, v in request.query.items()]
    for kind, name, value in params:
        problem = value_problem(value)
        if problem is None:
            continue
        if request.path.startswith("/api/"):
            check_text(name, value)
        raise web.HTTPBadRequest(text=f"The {kind} {name!r} {problem}.")
    if request.content_type in FORMS and not request.path.startswith("/api/"):
        try:
            await request.post()
        except UnicodeDecodeError:
            raise web.HTTPBadRequest(text="The form was not sent as UTF-8 text.") from None
    return await handler(request)
