"""Coerce and validate the values people submit in forms (start forms, input steps, decisions).

Values arrive as text from Slack, the web, email or the CLI ("12.5", "true", "a,b"), or already
typed from the API; they leave typed and checked, in the JSON-friendly form the events store.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

from engine import principal, text
from engine.definitions.models import FormField
from engine.errors import InvalidInput

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
# Integers beyond 64 bits are no field's value and overflow float conversion on the way.
MAX_INTEGER = 2**63 - 1
# A lone UTF-16 surrogate cannot be encoded as UTF-8, so no store could keep it.
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0", ""}


def validate_values(
    fields: Sequence[FormField], values: Mapping[str, Any], *, decision: str | None = None
) -> dict[str, Any]:
    """Typed values for every field (defaults applied, missing optional ones None).

    `decision` ("approve"/"reject") makes fields with a matching `required_on` required.
    Raises InvalidInput with one message per bad field, unknown keys included.
    """
    known = {f.id for f in fields}
    errors = {
        key: f"unknown field; expected one of {', '.join(sorted(known)) or 'none'}"
        for key in values
        if key not in known
    }
    for key, value in values.items():
        problem = value_problem(value)
        if problem is not None:
            errors[key] = problem
    out: dict[str, Any] = {}
    for field in fields:
        if field.id in errors:
            continue
        raw = values.get(field.id)
        if _empty(raw):
            raw = field.default
        required = field.required or (decision is not None and field.required_on == decision)
        if _empty(raw):
            if required:
                errors[field.id] = "required"
            out[field.id] = False if field.type == "checkbox" else None
            continue
        try:
            out[field.id] = coerce_value(field, raw)
        except ValueError as exc:
            errors[field.id] = str(exc)
            continue
        if required and field.type == "checkbox" and out[field.id] is False:
            errors[field.id] = "must be checked"
    if errors:
        raise InvalidInput(errors)
    return out


def value_problem(value: Any) -> str | None:
    """Why a submitted value (a scalar, or a list or object of them) can be nobody's input, or
    None: text with a NUL character or an unpaired surrogate, an integer beyond 64 bits, a
    number that is not finite. Every channel's values pass here (through `validate_values`);
    the web checks whole request bodies with it too."""
    if isinstance(value, str):
        return text.problem(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        fits = -MAX_INTEGER <= value <= MAX_INTEGER
        return None if fits else "is too large a number (beyond 64 bits)"
    if isinstance(value, float):
        return None if math.isfinite(value) else "expected a finite number"
    items: Iterable[tuple[Any, Any]] = ()
    if isinstance(value, Mapping):
        items = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    for key, item in items:
        problem = (value_problem(key) if isinstance(key, str) else None) or value_problem(item)
        if problem is not None:
            return problem
    return None


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def coerce_value(field: FormField, value: Any) -> Any:
    """One value converted to the field's type; ValueError says what was expected."""
    kind = field.type
    if kind in ("text", "multiline"):
        text = _text(value, "text")
        if field.max_length is not None and len(text) > field.max_length:
            raise ValueError(f"at most {field.max_length} characters (got {len(text)})")
        return text
    if kind == "number":
        return _number(field, value)
    if kind == "checkbox":
        return _checkbox(value)
    if kind == "select":
        return _option(field, _text(value, "one of the options"))
    if kind == "multiselect":
        return [_option(field, v) for v in _listed(value, "options")]
    if kind == "date":
        return _date(value)
    if kind == "datetime":
        return _datetime(value)
    if kind == "user":
        return _person(value, "a Slack user id like U0123ABCD or an email address")
    if kind == "users":
        expected = "Slack user ids like U0123ABCD or email addresses"
        return list(dict.fromkeys(_person(v, expected) for v in _listed(value)))
    if kind == "channel":
        found = _find(value)
        if found is None or found.kind != "channel" or found.id.startswith("#"):
            # Slack's picker gives ids, and an id names the same channel after a rename.
            raise ValueError(f"expected a Slack channel id like C0123ABCD, got {value!r}")
        return found.id
    if kind == "email":
        found = _find(value)
        if found is None or found.address is None:
            raise ValueError(f"expected an email address like ana@example.com, got {value!r}")
        return value.strip().removeprefix(principal.EMAIL_PREFIX)
    return _url(value)


def _text(value: Any, expected: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected {expected}, got {type(value).__name__}")
    return value


def _number(field: FormField, value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected a number, got {value!r}")
    if isinstance(value, str):
        if not _NUMBER.match(value.strip()):
            raise ValueError(f"expected a number, got {value!r}")
        value = float(value)
    if not math.isfinite(value):
        raise ValueError("expected a finite number")
    number: int | float = int(value) if float(value).is_integer() else float(value)
    if field.min is not None and number < field.min:
        raise ValueError(f"must be at least {field.min:g}")
    if field.max is not None and number > field.max:
        raise ValueError(f"must be at most {field.max:g}")
    return number


def _checkbox(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"expected true or false, got {value!r}")


def _option_values(field: FormField) -> list[str]:
    return [o if isinstance(o, str) else o.value for o in field.options or []]


def _option(field: FormField, value: Any) -> str:
    allowed = _option_values(field)
    if value not in allowed:
        raise ValueError(f"{value!r} is not one of the options: {', '.join(allowed)}")
    return str(value)


def _listed(value: Any, what: str = "values") -> list[Any]:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple):
        return list(value)
    raise ValueError(f"expected a list of {what} or a comma-separated text")


def _find(value: Any) -> principal.Principal | None:
    return principal.find(value) if isinstance(value, str) else None


def _person(value: Any, expected: str) -> str:
    """A Slack user id, or an email address stored as "email:addr" (the same person however
    the address was written)."""
    found = _find(value)
    if found is None or not found.is_person:
        raise ValueError(f"expected {expected}, got {value!r}")
    return found.id


def _date(value: Any) -> str:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str) and _DATE.match(value.strip()):
        try:
            return date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            pass
    raise ValueError(f"expected a date as YYYY-MM-DD, got {value!r}")


def _datetime(value: Any) -> str:
    parsed = value if isinstance(value, datetime) else None
    if isinstance(value, str) and "T" in value.upper():
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            parsed = None
    if parsed is None:
        raise ValueError(f"expected an ISO 8601 date and time, got {value!r}")
    if parsed.tzinfo is None:
        raise ValueError("the date and time needs a timezone, e.g. 2026-03-01T09:00:00+01:00")
    return parsed.isoformat()


def _url(value: Any) -> str:
    text = _text(value, "a URL")
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"expected an http(s) URL like https://example.com, got {value!r}")
    return text.strip()
