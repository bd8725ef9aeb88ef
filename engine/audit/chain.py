"""The hash chain of a run's events: each event's hash is SHA-256 over the RFC 8785 canonical
form of {tenant, run, seq, prev, event}, where `prev` is the hash of the run's previous event
(GENESIS for the first). Changing, removing or reordering any event changes every later hash."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import rfc8785

GENESIS = "0" * 64
VERSION = 1


_SAFE_INT = 2**53


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
            text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            return text.encode()
        except UnicodeEncodeError:
            pass  # a lone surrogate: rfc8785 says why it cannot be written
    return rfc8785.dumps(value)


def event_hash(tenant_id: str, run_id: str, seq: int, prev: str, event: Any) -> str:
    """The hash of one event; `event` is its JSON value (a dict), or its JSON text."""
    body: dict[str, Any] = {"v": VERSION, "tenant": tenant_id, "run": run_id, "seq": seq}
    body["prev"] = prev
    if isinstance(event, str):
        fast = _fast_canonical(body, event)
        if fast is not None:
            return hashlib.sha256(fast).hexdigest()
        event = json.loads(event)
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


def _fast_canonical(body: dict[str, Any], text: str) -> bytes | None:
    """The commit path's canonical form of `body` with the event's JSON `text`, or None when the
    text is not plain: the C decoder flags floats and large integers as it parses (no walk).
    A key beyond the BMP (RFC 8785 sorts keys by UTF-16 code units, Python by code points) is
    written in ASCII text as an escaped surrogate pair: such text takes the reference path."""
    if not text.isascii() or "\\ud" in text or "\\uD" in text:
        return None
    try:
        event = json.loads(
            text, parse_float=_not_plain, parse_int=_exact_int, parse_constant=_not_plain
        )
    except _NotPlain:
        return None
    out = json.dumps(
        body | {"event": event}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    try:
        return out.encode()
    except UnicodeEncodeError:  # a lone surrogate in an id: the reference path says why
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
