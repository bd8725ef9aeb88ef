"""Time-ordered run ids: a prefix and a ULID-like string (48-bit milliseconds + 80 random bits in
Crockford base32), so ids sort by creation time and never collide across processes."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from engine.ports import Clock

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _base32(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        value, digit = divmod(value, 32)
        out.append(_ALPHABET[digit])
    return "".join(reversed(out))


class UlidFactory:
    """Makes ids like "r01J9Z3...": monotonic within one process even inside one millisecond
    (the random part is incremented, as the ULID spec does)."""

    def __init__(self, clock: Clock, prefix: str = "r") -> None:
        self._clock = clock
        self._prefix = prefix
        self._last_ms = -1
        self._last_rand = 0

    def __call__(self) -> str:
        ms = int(self._clock.now().timestamp() * 1000)
        if ms <= self._last_ms:  # same millisecond (or the clock went back): count up
            ms = self._last_ms
            self._last_rand = (self._last_rand + 1) % (1 << 80)
        else:
            self._last_ms = ms
            self._last_rand = secrets.randbits(80)
        return self._prefix + _base32(ms, 10) + _base32(self._last_rand, 16)


IdFactory = Callable[[], str]
