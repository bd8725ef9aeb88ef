"""The one rule for what text Countersign accepts and stores: no NUL character (PostgreSQL
refuses it) and no lone surrogate (half of a UTF-16 pair: not Unicode, so neither UTF-8 nor
JSON can carry it). Input checks (`engine.forms`) and the stores' culprit search
(`engine.recordable`) both ask here."""

from __future__ import annotations

NUL = "\x00"


def has_lone_surrogate(text: str) -> bool:
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def problem(text: str) -> str | None:
    """Why `text` cannot be accepted or stored, or None."""
    if NUL in text:
        return "contains a NUL character"
    if has_lone_surrogate(text):
        return "contains a lone surrogate (not valid Unicode)"
    return None
