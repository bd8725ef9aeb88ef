"""Alembic, driven programmatically: the scripts live in `storage/migrations`, no alembic.ini."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

SCRIPTS = Path(__file__).parent / "migrations"


def full_metadata() -> MetaData:
    """The metadata with every table: adapters (web access, Slack installations) declare their
    tables in their own `storage` modules, which register on import."""
    from storage.schema import metadata

    # The package's modules by their files (not `storage.__path__`: the package imports this).
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if module.name != "migrations":
            importlib.import_module(f"storage.{module.name}")
    return metadata


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Migrate the database to `revision` (creating every table on an empty one)."""

    def run(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)


async def is_current(engine: AsyncEngine) -> bool:
    """Whether the database is at the newest migration (the readiness check)."""

    def check(connection: Connection) -> bool:
        heads = ScriptDirectory.from_config(alembic_config()).get_heads()
        return set(MigrationContext.configure(connection).get_current_heads()) == set(heads)

    async with engine.connect() as conn:
        return await conn.run_sync(check)
