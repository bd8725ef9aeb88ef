"""Opening the database: the engine for a URL, with each dialect's per-connection settings."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA foreign_keys=ON",
)
# Execution option for read-only work on SQLite: a plain BEGIN, which does not take the write lock.
READONLY = {"countersign_readonly": True}
# SQLSTATEs (prefixes) of a database unavailable for now: connection_exception (class 08),
# insufficient_resources such as too_many_connections (53), admin_shutdown and crash_shutdown
# (a server stopping ends every session), cannot_connect_now (it is starting or stopping).
UNAVAILABLE_SQLSTATES = ("08", "53", "57P01", "57P02", "57P03")
# SQLite's errors of the same kind ("no such table" and the like are bugs, not outages).
SQLITE_UNAVAILABLE = (
    "database is locked",
    "database is busy",
    "unable to open database file",
    "disk I/O error",
)


def parse_url(url: str) -> tuple[URL, dict[str, Any]]:
    """The SQLAlchemy URL and connect_args for `url`; refuses what Countersign cannot run on.

    A PostgreSQL URL may carry `?search_path=schema` to keep Countersign's tables in a schema of
    their own (tests use a fresh one per test); it becomes a server setting of every connection.
    """
    parsed = make_url(url)
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    if backend == "sqlite" and driver == "aiosqlite":
        return parsed, {}
    if backend == "postgresql" and driver == "asyncpg":
        search_path = parsed.query.get("search_path")
        if search_path is None:
            return parsed, {}
        if not isinstance(search_path, str):
            raise ValueError("DATABASE_URL: give search_path once")
        return parsed.difference_update_query(["search_path"]), {
            "server_settings": {"search_path": search_path}
        }
    raise ValueError(
        f"DATABASE_URL {parsed.render_as_string(hide_password=True)!r} is not supported: use "
        "sqlite+aiosqlite:///path.db or postgresql+asyncpg://user@host/db"
    )


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An AsyncEngine for `url` (no pre-ping: a dead connection fails one statement, which the
    runtime retries, instead of costing a round trip on every checkout)."""
    parsed, connect_args = parse_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_async_engine(parsed, pool_size=pool_size, connect_args=connect_args)
        event.listen(engine.sync_engine, "set_engine_execution_options", _reads_autocommit)
        return engine
    if parsed.database in (None, "", ":memory:"):
        raise ValueError("DATABASE_URL: an in-memory SQLite database is not supported; name a file")
    # SQLite has one writer at a time, and a second connection that wants the write lock sleeps
    # in SQLite's busy handler (backing off up to 100 ms). One connection, handed between tasks by
    # the pool's asyncio queue, serialises them without sleeping; reads are in-process and short.
    engine = create_async_engine(parsed, pool_size=1, max_overflow=0)
    event.listen(engine.sync_engine, "connect", _sqlite_connect)
    event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


def _reads_autocommit(_engine: Any, options: dict[str, Any]) -> None:
    """PostgreSQL: the READONLY engines' reads run in autocommit, without BEGIN and COMMIT round
    trips. A transaction gives them nothing: at READ COMMITTED each statement reads its own
    snapshot, in a transaction or not, and a reader never locks or writes."""
    if options.get("countersign_readonly"):
        options.setdefault("isolation_level", "AUTOCOMMIT")


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event emit BEGIN itself, instead of the driver's deferred one.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # IMMEDIATE takes the write lock up front: SQLite has one writer, and a deferred transaction
    # that later wants to write fails with SQLITE_BUSY instead of waiting for busy_timeout.
    readonly = conn.get_execution_options().get("countersign_readonly", False)
    conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the database cannot be reached right now (refused or cut connection,
    a server stopping or starting, no free connection, SQLite busy), rather than that a request
    or the code is wrong: such a failure should be answered "try again later" (HTTP 503). Two
    operations on one connection ("another operation is in progress") stay a bug."""
    for error in _chain(exc):
        # SQLAlchemy saw the connection die (and renewed the pool). This is also what asyncpg's
        # "cannot switch to state 15; another operation (2) is in progress" is: the first use
        # of a pooled session the server ended, whose FATAL error asyncpg still consumes.
        if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
            return True
        if isinstance(error, sa_exc.DisconnectionError | sa_exc.TimeoutError):
            return True  # TimeoutError: no pooled connection came free in time
        if isinstance(error, sa_exc.OperationalError) and any(
            busy in str(error.orig) for busy in SQLITE_UNAVAILABLE
        ):
            return True
        if isinstance(error, asyncpg.InterfaceError) and "connection is closed" in str(error):
            return True
        state = getattr(error, "sqlstate", None)
        if isinstance(state, str) and state.startswith(UNAVAILABLE_SQLSTATES):
            return True
        if isinstance(error, ConnectionError | TimeoutError | socket.gaierror):
            return True  # refused, reset, timed out, or the host name does not resolve
    return False


def one_statement(
    engine: AsyncEngine,
) -> Callable[[], AbstractAsyncContextManager[AsyncConnection]]:
    """How to open a write made of ONE statement. On PostgreSQL a statement is atomic on its own,
    so it runs in autocommit: no BEGIN and COMMIT round trips. SQLite keeps its write transaction,
    which takes the write lock up front."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT").connect
    return engine.begin
