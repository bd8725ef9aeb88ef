"""The hash chain of a run's events: each event's hash is SHA-256 over the RFC 8785 canonical
form of {tenant, run, seq, prev, event}, where `prev` is the hash of the run's previous event
(GENESIS for the first). Changing, removing or reordering any event changes every later hash."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

import rfc8785

GENESIS = "0" * 64
VERSION = 1


_SAFE_INT = 2**53


def _refuse(value: Any) -> Any:
    raise TypeError(f"not JSON: {type(value).__name__}")


# One encoder built once (json.dumps builds a new one per call, which costs as much as the
# encoding itself): sorted keys, no spaces, text as is (RFC 8785 escapes exactly what Python's
# JSON encoder escapes when ensure_ascii is off, with the same lower-case \u00xx).
_ENCODE_C = c_make_encoder(None, _refuse, encode_basestring, None, ":", ",", True, False, True)
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _sorted_json(value: Any) -> str:
    if _ENCODE_C is None:  # a Python built without the C accelerator
        return _ENCODER.encode(value)
    return "".join(_ENCODE_C(value, 0))


def _plain(value: Any) -> bool:
    """Whether `value` holds only what `json.dumps(sort_keys=True)` writes exactly as RFC 8785
    does: no floats (number formats differ), no integers beyond 2**53, no keys beyond the
    BMP (RFC 8785 sorts keys by UTF-16 code units, Python by code points)."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return bool(-_SAFE_INT < value < _SAFE_INT)
    if kind is list:
        return all(_plain(item) for item in value)
    if kind is dict:
        return all(
            type(key) is str and (key.isascii() or all(ord(c) <= 0xFFFF for c in key))
            for key in value
        ) and all(_plain(item) for item in value.values())
    return False


def canonical(value: Any) -> bytes:
    """RFC 8785 canonical JSON. Event data is almost always plain (see `_plain`): the C JSON
    encoder then writes the same bytes several times faster than the rfc8785 package, which
    stays the reference (and handles floats)."""
    if _plain(value):
        try:
            return _sorted_json(value).encode()
        except UnicodeEncodeError:
            pass  # a lone surrogate: rfc8785 says why it cannot be written
    return rfc8785.dumps(value)


def event_hash(tenant_id: str, run_id: str, seq: int, prev: str, event: Any) -> str:
    """The hash of one event; `event` is its JSON value (a dict), or its JSON text."""
    if isinstance(event, str):
        fast = _fast_canonical(tenant_id, run_id, seq, prev, event)
        if fast is not None:
            return hashlib.sha256(fast).hexdigest()
        event = json.loads(event)
    body: dict[str, Any] = {"v": VERSION, "tenant": tenant_id, "run": run_id, "seq": seq}
    body["prev"] = prev
    body["event"] = event
    return hashlib.sha256(canonical(body)).hexdigest()


class _NotPlain(Exception):
    pass


def _exact_int(text: str) -> int:
    value = int(text)
    if not -_SAFE_INT < value < _SAFE_INT:
        raise _NotPlain
    return value


def _not_plain(text: str) -> Any:
    raise _NotPlain


# Built once, like the encoder: flags floats and large integers as it parses (no walk after).
_DECODER = json.JSONDecoder(parse_float=_not_plain, parse_int=_exact_int, parse_constant=_not_plain)
# Where code point order (Python's sort) and UTF-16 order (RFC 8785's) may disagree: a character
# at or beyond U+E000, raw or escaped (an escaped surrogate pair, \ud83d\ude00, is one beyond
# the BMP). Text without any sorts the same both ways; text with one takes the reference path.
# (Two patterns: one alternation scans several times slower.)
_RAW_HIGH = re.compile("[\ue000-\U0010ffff]")
_ESCAPED_HIGH = re.compile(r"\\u[d-fD-F]")


def _fast_canonical(tenant_id: str, run_id: str, seq: int, prev: str, text: str) -> bytes | None:
    """The commit path's canonical form of the hashed body with the event's JSON `text`, or None
    when the reference path must write it. The body's own keys are fixed (and so is their order:
    event, prev, run, seq, tenant, v), so only the event is parsed and written with sorted keys."""
    if type(seq) is not int or not -_SAFE_INT < seq < _SAFE_INT:
        return None
    if not text.isascii() and _RAW_HIGH.search(text) is not None:
        return None
    if "\\u" in text and _ESCAPED_HIGH.search(text) is not None:
        return None
    try:
        event = _DECODER.decode(text)
        out = (
            f'{{"event":{_sorted_json(event)},"prev":{encode_basestring(prev)},'
            f'"run":{encode_basestring(run_id)},"seq":{seq},'
            f'"tenant":{encode_basestring(tenant_id)},"v":{VERSION}}}'
        )
        return out.encode()
    except _NotPlain:
        return None
    except (UnicodeEncodeError, TypeError):  # a lone surrogate, or ids that are not text
        return None


@dataclass(frozen=True)
class ChainedEvent:
    seq: int
    event: Any  # the JSON value (dict) or text
    prev_hash: str | None
    hash: str | None


def chain_problems(tenant_id: str, run_id: str, rows: Iterable[ChainedEvent]) -> list[str]:
    """What is wrong with a run's stored chain, as sentences naming the seq; [] when intact.
    Returns also the head reached (the last hash) through `chain_head`."""
    problems: list[str] = []
    prev = GENESIS
    expected_seq = 1
    for row in rows:
        if row.seq != expected_seq:
            problems.append(f"seq {expected_seq}: missing (next stored is seq {row.seq})")
            expected_seq = row.seq
        if row.prev_hash != prev:
            problems.append(f"seq {row.seq}: previous hash does not match the event before it")
        recomputed = event_hash(tenant_id, run_id, row.seq, prev, row.event)
        if row.hash != recomputed:
            problems.append(f"seq {row.seq}: hash does not match its content")
        prev = row.hash or recomputed
        expected_seq += 1
    return problems


def chain_head(tenant_id: str, run_id: str, rows: Iterable[ChainedEvent]) -> tuple[int, str]:
    """(last seq, its hash) as recomputed from the content alone."""
    prev, seq = GENESIS, 0
    for row in rows:
        prev, seq = event_hash(tenant_id, run_id, row.seq, prev, row.event), row.seq
    return seq, prev
