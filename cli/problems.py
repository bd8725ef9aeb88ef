"""Operator mistakes (a setting that does not parse, a database that cannot be reached, a port
in use, a missing file) worded as one line that says what is wrong and what to change, instead
of a traceback. `cli.main` prints `OperatorError`s as `error: ...` and exits non-zero."""

from __future__ import annotations

import errno
import json
import re
import socket
from typing import Any

from alembic.util.exc import CommandError
from pydantic import ValidationError
from pydantic_settings import SettingsError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError


class OperatorError(Exception):
    """Something the operator can fix; the message says what and how."""

    @property
    def message(self) -> str:
        return str(self.args[0])


# ---------------------------------------------------------------- settings

# Settings whose value is never echoed in an error: they are or may contain secrets.
MAY_HOLD_PASSWORDS = frozenset(
    {
        "database_url",
        "redis_url",
        "smtp_url",
        "secret_key",
        "webhook_secret",
        "secrets",
        "slack_bot_token",
        "slack_app_token",
        "slack_client_secret",
    }
)


def settings_problem(exc: ValidationError | SettingsError) -> OperatorError:
    """The first setting that does not parse, named as its environment variable."""
    if isinstance(exc, SettingsError):
        found = re.search(r'field "(\w+)"', str(exc))
        name = found.group(1).upper() if found else "a setting"
        cause = exc.__cause__
        why = f"{cause}" if isinstance(cause, json.JSONDecodeError) else str(exc)
        return OperatorError(
            f'{name} is not valid JSON ({why}); e.g. {name}=\'{{"NAME": "value"}}\''
        )
    error = exc.errors()[0]
    message = str(error["msg"]).removeprefix("Value error, ")
    if not error["loc"]:  # a check of several settings, which names them itself
        return OperatorError(f"{message}; fix it in the environment or .env")
    field = str(error["loc"][0])
    name = field.upper()
    given = error.get("input")
    plain = isinstance(given, str | int | float) and field not in MAY_HOLD_PASSWORDS
    shown = f" (got {given!r})" if plain else ""
    return OperatorError(f"{name}: {message}{shown}; fix it in the environment or .env")


# ---------------------------------------------------------------- database


def where(url: str) -> str:
    """The database a URL names, without its password."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return url
    if parsed.get_backend_name() == "sqlite":
        return f"the SQLite file {parsed.database}"
    host = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
    return f"{parsed.get_backend_name()} at {host}/{parsed.database or ''}"


def database_problem(exc: BaseException, url: str) -> OperatorError | None:
    """What went wrong opening the database at `url`, or None for an unexpected error."""
    what = where(url)
    if isinstance(exc, NoSuchModuleError | ArgumentError):
        return OperatorError(
            f"DATABASE_URL {_hide_password(url)!r} is not a database URL Countersign can use; "
            "use sqlite+aiosqlite:///./countersign.db or postgresql+asyncpg://user@host/db"
        )
    if isinstance(exc, CommandError) and "Can't locate revision" in str(exc):
        return OperatorError(
            f"{what} was migrated by a newer Countersign ({exc}); run that version, "
            "or point DATABASE_URL at another database"
        )
    if isinstance(exc, DBAPIError):
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        reason = re.sub(r"^<class '[\w.]+'>: ", "", reason)
        return OperatorError(f"cannot open {what}: {reason}; check DATABASE_URL")
    if isinstance(exc, socket.gaierror):
        return OperatorError(f"cannot reach {what}: unknown host; check DATABASE_URL")
    if isinstance(exc, ConnectionRefusedError):
        return OperatorError(
            f"cannot reach {what}: connection refused; is the database running? "
            "(check DATABASE_URL)"
        )
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc) or type(exc).__name__
        return OperatorError(f"cannot open {what}: {reason}; check DATABASE_URL")
    if isinstance(exc, ValueError) and "DATABASE_URL" in str(exc):
        return OperatorError(str(exc))
    return None


def _hide_password(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


# ---------------------------------------------------------------- the web server


def listen_problem(exc: OSError, host: str, port: int) -> OperatorError:
    at = f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return OperatorError(
            f"cannot listen on {at}: the port is in use (another Countersign?); "
            "stop the other process or set HTTP_PORT to a free port"
        )
    if exc.errno == errno.EACCES:
        return OperatorError(
            f"cannot listen on {at}: permission denied; use an HTTP_PORT above 1023"
        )
    if exc.errno == errno.EADDRNOTAVAIL or isinstance(exc, socket.gaierror):
        return OperatorError(
            f"cannot listen on {at}: no such address on this machine; "
            "set HTTP_HOST to 127.0.0.1, 0.0.0.0 or one of its addresses"
        )
    return OperatorError(f"cannot listen on {at}: {exc.strerror or exc}; check HTTP_HOST/HTTP_PORT")


def unreadable(path: Any, exc: OSError | UnicodeDecodeError) -> OperatorError:
    """A file the operator named that cannot be read."""
    if isinstance(exc, UnicodeDecodeError):
        return OperatorError(f"{path}: not a text file (expected UTF-8 YAML or JSON)")
    return OperatorError(f"{path}: {exc.strerror or exc}")
