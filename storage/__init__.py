"""Storage on SQLAlchemy 2 async Core: SQLite (aiosqlite, the default) or PostgreSQL (asyncpg),
chosen by the database URL. `open_storage` gives the four stores the engine's ports need."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from storage import migrate
from storage.audit import SqlAuditStore
from storage.aways import SqlAwayStore
from storage.database import create_engine
from storage.definitions import SqlDefinitionStore
from storage.grants import SqlGrantStore
from storage.queues import SqlOutbox, SqlTimerStore
from storage.runs import SqlRunStore
from storage.secrets import SqlSecretStore

DEFAULT_URL = "sqlite+aiosqlite:///./countersign.db"


class Storage:
    """The stores over one connection pool; `engine` is shared with other adapters.
    `secret_key` gives SECRET_KEY, which the secret store needs to encrypt and decrypt."""

    def __init__(self, engine: AsyncEngine, secret_key: Callable[[], str] | None = None) -> None:
        self.engine = engine
        self.definitions = SqlDefinitionStore(engine)
        self.runs = SqlRunStore(engine)
        self.outbox = SqlOutbox(engine)
        self.timers = SqlTimerStore(engine)
        self.aways = SqlAwayStore(engine)
        self.grants = SqlGrantStore(engine)
        self.secrets = SqlSecretStore(engine, secret_key)
        self.audit = SqlAuditStore(engine)

    async def upgrade(self) -> None:
        """Apply every pending migration (creates the schema in an empty database)."""
        await migrate.upgrade(self.engine)

    async def is_current(self) -> bool:
        """Whether the schema is at the newest migration (for /readyz)."""
        return await migrate.is_current(self.engine)

    async def close(self) -> None:
        await self.engine.dispose()


async def open_storage(
    url: str,
    *,
    create: bool = False,
    pool_size: int = 10,
    secret_key: Callable[[], str] | None = None,
) -> Storage:
    """Connect to `url`; with `create`, also bring the schema up to date (a fresh SQLite file is
    created, with its folder). A PostgreSQL URL may end in `?search_path=schema`."""
    engine = create_engine(url, pool_size=pool_size)
    if create and engine.dialect.name == "sqlite" and engine.url.database:
        Path(engine.url.database).parent.mkdir(parents=True, exist_ok=True)
    storage = Storage(engine, secret_key)
    if create:
        try:
            await storage.upgrade()
        except BaseException:
            await storage.close()
            raise
    return storage


__all__ = ["DEFAULT_URL", "Storage", "open_storage"]
