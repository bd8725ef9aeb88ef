"""Read-only copies of the data a template reads: nothing a template does can change a run's
inputs or outputs, and copying costs only what the template reads."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, NoReturn


def _read_only(self: Any, *args: Any, **kwargs: Any) -> NoReturn:
    raise TypeError("template data is read-only")


class ReadOnlyDict(dict[Any, Any]):
    """A read-only copy of a dict, made one level at a time: its values are the original ones
    until read, and are read as read-only copies in turn. So a render costs what it reads, not
    the size of the run's data. str() and JSON look like a dict's."""

    __slots__ = ()
    __setitem__ = __delitem__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only

    def __getitem__(self, key: Any) -> Any:
        value = dict.__getitem__(self, key)
        if _writable(value):
            value = freeze(value)
            dict.__setitem__(self, key, value)  # this copy is private: keep what was made
        return value

    def __iter__(self) -> Iterator[Any]:
        # Defined so that dict(x) and f(**x) read values through __getitem__, not directly.
        return dict.__iter__(self)

    def get(self, key: Any, default: Any = None) -> Any:
        return self[key] if key in self else default  # noqa: SIM401 (self.get is this)

    def values(self) -> list[Any]:  # type: ignore[override]
        return [self[k] for k in self]

    def items(self) -> list[tuple[Any, Any]]:  # type: ignore[override]
        return [(k, self[k]) for k in self]

    def copy(self) -> ReadOnlyDict:
        return self


class ReadOnlyList(list[Any]):
    """A read-only copy of a list, made one level at a time like ReadOnlyDict."""

    __slots__ = ()
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _read_only
    append = extend = insert = pop = remove = reverse = sort = clear = _read_only

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return ReadOnlyList(list.__getitem__(self, index))
        value = list.__getitem__(self, index)
        if _writable(value):
            value = freeze(value)
            list.__setitem__(self, index, value)
        return value

    def __iter__(self) -> Iterator[Any]:
        return (self[i] for i in range(len(self)))

    def __reversed__(self) -> Iterator[Any]:
        return (self[i] for i in reversed(range(len(self))))

    def copy(self) -> ReadOnlyList:
        return self


def _writable(value: Any) -> bool:
    return isinstance(value, dict | list | tuple | set) and not isinstance(
        value, ReadOnlyDict | ReadOnlyList
    )


def freeze(value: Any) -> Any:
    """A read-only copy of JSON-like data; nested values are copied when first read."""
    if isinstance(value, ReadOnlyDict | ReadOnlyList):
        return value
    if isinstance(value, Mapping):
        return ReadOnlyDict(value)
    if isinstance(value, list | tuple):
        return ReadOnlyList(value)
    if isinstance(value, set | frozenset):
        return frozenset(value)
    return value
