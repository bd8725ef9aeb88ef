"""`python app.py serve` that also counts the SQL statements it sends, for `bench.agents`: on
SIGUSR1 it writes the counts so far to the file named by STATEMENT_COUNT_FILE, as "statements
transactions". Statements are what SQLAlchemy sends (an executemany is one), every engine of
the process together; transactions are asyncpg's BEGIN, COMMIT and ROLLBACK, each a round trip
of its own beside the statements (a statement in autocommit needs none)."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from cli.main import main

sent = 0
transaction_trips = 0


def _count(*_: Any) -> None:
    global sent
    sent += 1


def _write(*_: Any) -> None:
    Path(os.environ["STATEMENT_COUNT_FILE"]).write_text(f"{sent} {transaction_trips}")


def _counting(method: Any) -> Any:
    async def counted(self: Any) -> Any:
        global transaction_trips
        transaction_trips += 1
        return await method(self)

    return counted


if __name__ == "__main__":
    from asyncpg.transaction import Transaction

    for name in ("start", "commit", "rollback"):
        setattr(Transaction, name, _counting(getattr(Transaction, name)))
    event.listen(Engine, "before_cursor_execute", _count)
    signal.signal(signal.SIGUSR1, _write)
    sys.exit(main(["serve"]))
