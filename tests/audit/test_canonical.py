"""The fast canonical form writes exactly what the rfc8785 reference writes."""

from __future__ import annotations

from typing import Any

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.audit.chain import canonical

JSON: Any = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_canonical_is_rfc8785(value: Any) -> None:
    try:
        expected = rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        return  # e.g. a lone surrogate: not JSON text either way
    assert canonical(value) == expected


def test_keys_sort_by_utf16_code_units() -> None:
    value = {"\U0001f600": 1, "\uff61": 2}  # code points and UTF-16 order disagree
    assert canonical(value) == rfc8785.dumps(value)


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_the_commit_paths_hash_of_json_text_is_the_reference_one(value: Any) -> None:
    import hashlib
    import json

    from engine.audit.chain import event_hash

    body = {"v": 1, "tenant": "T", "run": "r\u00e9", "seq": 2, "prev": "0" * 64, "event": value}
    try:
        expected = hashlib.sha256(rfc8785.dumps(body)).hexdigest()
    except rfc8785.CanonicalizationError:
        return
    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False)):
        assert event_hash("T", "r\u00e9", 2, "0" * 64, text) == expected


def _reference_hash(tenant: str, run: str, seq: int, prev: str, text: str) -> str:
    import hashlib
    import json

    body = {
        "v": 1,
        "tenant": tenant,
        "run": run,
        "seq": seq,
        "prev": prev,
        "event": json.loads(text),
    }
    return hashlib.sha256(rfc8785.dumps(body)).hexdigest()


def test_event_text_whose_keys_sort_apart_in_utf16_takes_the_reference_path() -> None:
    import json

    from engine.audit.chain import event_hash

    value = {"\U0001f600": 1, "\uff61": 2, "\ue000": [3], "a": {"\U0001f600": None, "\uffff": 0}}
    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False)):
        assert event_hash("T", "r", 1, "0" * 64, text) == _reference_hash(
            "T", "r", 1, "0" * 64, text
        )


TEXT = st.text(max_size=12)


@settings(max_examples=300, deadline=None)
@given(
    step_id=TEXT,
    output=st.dictionaries(TEXT, JSON, max_size=4),
    tenant=TEXT,
    run=TEXT,
    seq=st.integers(1, 2**40),
    prev=st.sampled_from(["0" * 64, "f" * 64]) | TEXT,
)
def test_the_hash_of_a_stored_event_is_the_reference_one(
    step_id: str, output: dict[str, Any], tenant: str, run: str, seq: int, prev: str
) -> None:
    """The commit path hashes pydantic's JSON text of each event (keys in field order, text not
    escaped): the same hash as the reference over the parsed value, for any text and output."""
    from datetime import UTC, datetime

    from pydantic_core import PydanticSerializationError

    from engine.audit.chain import event_hash
    from engine.events import StepCompleted

    event = StepCompleted(at=datetime.now(UTC), step_id=step_id, outcome="done", output=output)
    try:
        text = event.model_dump_json()
        expected = _reference_hash(tenant, run, seq, prev, text)
    except (PydanticSerializationError, rfc8785.CanonicalizationError, UnicodeEncodeError):
        return  # a lone surrogate: the store refuses such an event before hashing
    assert event_hash(tenant, run, seq, prev, text) == expected
