"""Printing for the CLI: plain text for people, `--json` for scripts."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any


def emit(data: Any, text: str, *, as_json: bool) -> None:
    """Print `data` as JSON or `text` for people."""
    if as_json:
        print(json.dumps(data, indent=2, default=str))
    else:
        print(text)


def fail(message: str, *, as_json: bool, code: int = 1) -> int:
    if as_json:
        print(json.dumps({"error": {"message": message}}), file=sys.stderr)
    else:
        print(f"error: {message}", file=sys.stderr)
    return code


def when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S") if at else "-"


def table(rows: list[list[str]], headers: list[str]) -> str:
    if not rows:
        return "(none)"
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()

    return "\n".join([line(headers), *(line(r) for r in rows)])
