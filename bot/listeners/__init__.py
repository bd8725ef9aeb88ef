"""Bolt listeners, one module per Slack surface, each with `register(app, deps)`.

Each listener is a top-level function whose first parameters are its dependencies (`deps`, the
work a button or modal does); `register` binds them with `bind` and wires them to the app, so
nothing is registered by an import and each listener can be imported and called on its own.

Listeners are thin: ack first (Slack allows 3 seconds), then hand the request to the engine in
tracked background work. Only what must shape the ack itself (a modal's validation errors) is
done before it. Errors are never swallowed: the user hears what went wrong, the log gets the rest.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

Listener = Callable[..., Awaitable[None]]


def bind(listener: Listener, *first: Any, name: str | None = None) -> Listener:
    """`listener` with its first arguments (the dependencies) given, for Bolt to register. Bolt
    injects arguments by the names of the remaining parameters, so the bound ones must come
    first. Bolt's logs call it `name` (the listener's own by default)."""
    bound = partial(listener, *first)
    bound.__name__ = name or listener.__name__  # type: ignore[attr-defined]
    return bound
