"""Durations as written in workflow files: "90s", "15m", "4h", "2 days", "16 working hours"."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

_UNITS = {
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "week": 604800, "weeks": 604800,
}  # fmt: skip
_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*")
_WORKING = re.compile(r"^(.*?)\s*working\s+(hours?|h)\s*$")
PATTERN = r"^\s*(\d+(\.\d+)?\s*[a-zA-Z]+\s*)+$|^\s*\d+(\.\d+)?\s*working\s+(hours?|h)\s*$"


@dataclass(frozen=True, order=True)
class Duration:
    """A length of time; `working=True` counts only working hours (see the reminder settings)."""

    seconds: int
    working: bool = False

    @property
    def delta(self) -> timedelta:
        return timedelta(seconds=self.seconds)

    def __str__(self) -> str:
        if self.working:
            return f"{self.seconds / 3600:g} working hours"
        rest, out = self.seconds, []
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
            if rest >= size:
                out.append(f"{rest // size}{unit}")
                rest %= size
        return "".join(out) or "0s"

    @classmethod
    def parse(cls, text: str) -> Duration:
        """Parse a duration; raises ValueError with a message that says what is expected."""
        raw = text.strip().lower()
        working = _WORKING.match(raw)
        if working:
            try:
                hours = float(working.group(1))
            except ValueError:
                raise ValueError(
                    f"{text!r} is not a duration: working time is written like '16 working hours'"
                ) from None
            return cls(seconds=round(hours * 3600), working=True)
        pos, total = 0, 0.0
        while pos < len(raw):
            m = _PART.match(raw, pos)
            if not m or m.group(2) not in _UNITS:
                bad = m.group(2) if m else raw[pos:].strip()
                raise ValueError(
                    f"{text!r} is not a duration: unknown unit {bad!r}; "
                    "use s, m, h, d or w (e.g. '90s', '15m', '4h', '2 days', '1h30m')"
                )
            total += float(m.group(1)) * _UNITS[m.group(2)]
            pos = m.end()
        if not raw:
            raise ValueError("a duration cannot be empty; write e.g. '15m' or '2 days'")
        if round(total) < 1:
            raise ValueError(f"{text!r} is not a duration: it must be at least one second")
        return cls(seconds=round(total))

    @classmethod
    def _validate(cls, value: Any) -> Duration:
        if isinstance(value, Duration):
            return value
        if isinstance(value, bool):
            raise PydanticCustomError("duration", "expected a duration such as '15m' or '2 days'")
        if isinstance(value, int | float):
            if value <= 0:
                raise PydanticCustomError("duration", "a duration must be longer than zero")
            if round(value) < 1:
                raise PydanticCustomError("duration", "a duration must be at least one second")
            return cls(seconds=round(value))
        if isinstance(value, str):
            try:
                return cls.parse(value)
            except ValueError as exc:
                raise PydanticCustomError("duration", str(exc)) from None
        raise PydanticCustomError("duration", "expected a duration such as '15m' or '2 days'")

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls._validate, serialization=core_schema.plain_serializer_function_ser_schema(str)
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {
            "anyOf": [
                {"type": "string", "pattern": PATTERN, "examples": ["15m", "4h", "2 days"]},
                {"type": "number", "exclusiveMinimum": 0, "description": "seconds"},
            ]
        }
