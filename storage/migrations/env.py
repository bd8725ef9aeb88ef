"""Alembic environment. Countersign runs migrations itself (`storage.migrate`), handing over an
open connection, so both dialects and async drivers go through the same path."""

from __future__ import annotations

from alembic import context

from storage.migrate import full_metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run Countersign's migrations with `countersign db upgrade`")
context.configure(
    connection=connection,
    target_metadata=full_metadata(),
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
