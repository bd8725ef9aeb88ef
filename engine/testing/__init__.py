"""Test support: in-memory stores with the semantics of `storage/`, and a clock that moves only
when told to. For tests and benchmarks only; production code never imports this package."""

from .access import (
    MemoryApiKeyStore,
    MemoryNonceStore,
    MemorySessionStore,
    memory_access_stores,
)
from .memory import (
    ManualClock,
    MemoryAwayStore,
    MemoryDefinitionStore,
    MemoryGrantStore,
    MemoryOutbox,
    MemoryRunStore,
    MemorySecretStore,
    MemoryStorage,
    MemoryTimerStore,
)

__all__ = [
    "ManualClock",
    "MemoryApiKeyStore",
    "MemoryAwayStore",
    "MemoryDefinitionStore",
    "MemoryGrantStore",
    "MemoryNonceStore",
    "MemoryOutbox",
    "MemoryRunStore",
    "MemorySecretStore",
    "MemorySessionStore",
    "MemoryStorage",
    "MemoryTimerStore",
    "memory_access_stores",
]
