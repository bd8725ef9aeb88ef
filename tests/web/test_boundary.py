"""The request-body check on its own: whatever bytes arrive, the answer is a value or an
`ApiError` (a 4xx), never another exception; brackets inside strings do not count as depth."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from web.boundary import MAX_DEPTH, parse_json, too_deep
from web.errors import ApiError

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


def parsed_or_refused(raw: bytes) -> Any:
    try:
        return parse_json(raw)
    except ApiError as exc:
        assert 400 <= exc.status < 500
        return exc


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_any_json_value_is_returned_or_refused_with_a_4xx(value: Any) -> None:
    raw = json.dumps(value).encode("utf-8", "surrogatepass")
    result = parsed_or_refused(raw)
    if not isinstance(result, ApiError):
        assert json.dumps(result) == json.dumps(value)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | st.text(alphabet='[]{}"\\,:0 a', max_size=300).map(str.encode))
def test_any_bytes_are_parsed_or_refused_with_a_4xx(raw: bytes) -> None:
    parsed_or_refused(raw)


@pytest.mark.parametrize(
    "text, deep",
    [
        ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), True),
        ("[" * MAX_DEPTH + "]" * MAX_DEPTH, False),
        ('["' + "[" * 1000 + '"]', False),  # brackets in a string
        ('["\\"' + "[" * 1000 + '"]', False),  # after an escaped quote, still in the string
        ('{"a": ' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1), True),
    ],
)
def test_depth_counts_only_brackets_outside_strings(text: str, deep: bool) -> None:
    assert too_deep(text) is deep


def test_a_deep_body_is_refused_without_parsing_it() -> None:
    with pytest.raises(ApiError) as refused:
        parse_json(b"[" * 1_000_000)
    assert refused.value.status == 400
    assert refused.value.details == [
        {"field": "(request body)", "message": f"nested deeper than {MAX_DEPTH} levels"}
    ]
