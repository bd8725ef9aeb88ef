"""Durations as authors write them."""

from __future__ import annotations

import pytest

from engine.durations import Duration


@pytest.mark.parametrize(
    ("text", "seconds", "working"),
    [
        ("90s", 90, False),
        ("15m", 900, False),
        ("4h", 14400, False),
        ("2 days", 172800, False),
        ("1h30m", 5400, False),
        ("1 week", 604800, False),
        ("16 working hours", 57600, True),
    ],
)
def test_parse(text: str, seconds: int, working: bool) -> None:
    assert Duration.parse(text) == Duration(seconds, working)


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("2 dayz", "unknown unit 'dayz'"),
        ("soon", "unknown unit 'soon'"),
        ("", "cannot be empty"),
        ("0s", "at least one second"),
        ("0.2s", "at least one second"),
        ("many working hours", "working time is written like"),
    ],
)
def test_parse_refuses_with_a_reason(text: str, phrase: str) -> None:
    with pytest.raises(ValueError, match=phrase):
        Duration.parse(text)


def test_str_is_compact_and_parses_back() -> None:
    for text in ("90s", "1h30m", "2 days", "16 working hours"):
        duration = Duration.parse(text)
        assert Duration.parse(str(duration)) == duration
    assert str(Duration.parse("2 days")) == "2d"
