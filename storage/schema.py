"""The tables. `tenant_id` leads every key, so each query stays inside one tenant (and the schema
can be sharded by tenant later). JSON documents (events, run states, commands, definitions) are
stored as text written and read by pydantic: the database never looks inside them, and text is
the cheapest way through both drivers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out. SQLite keeps naive text, so UTC is assumed on the way back."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: Countersign stores timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Autoincrementing ids: BIGINT on PostgreSQL, INTEGER (the rowid) on SQLite.
BigId: Any = BigInteger().with_variant(Integer(), "sqlite")
naming = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=naming)

Tenant = String(64)
Id = String(128)

workflows = Table(
    "workflows",
    metadata,
    Column("tenant_id", Tenant, nullable=False),
    Column("name", String(64), nullable=False),
    Column("latest_version", Integer, nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    PrimaryKeyConstraint("tenant_id", "name"),
)

definitions = Table(
    "definitions",
    metadata,
    Column("tenant_id", Tenant, nullable=False),
    Column("name", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("canonical", Text, nullable=False),  # the validated model as canonical JSON
    Column("hash", String(64), nullable=False),  # sha256 of `canonical`
    Column("source", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("tenant_id", "name", "version"),
)

runs = Table(
    "runs",
    metadata,
    Column("tenant_id", Tenant, nullable=False),
    Column("run_id", Id, nullable=False),
    Column("workflow", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("status", String(32), nullable=False),
    Column("requester", String(320), nullable=False),
    Column("current_step", String(64)),
    Column("started_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("seq", Integer, nullable=False),
    Column("state", Text, nullable=False),  # the RunState as JSON
    Column("idempotency_key", String(255)),
    Column("request_hash", String(64)),  # SHA-256 of the start that used the key (hex)
    Column("head_hash", String(64)),  # the hash of the run's newest event (engine.audit.chain)
    # Events up to this seq were chained when the audit migration ran, not as they were written.
    Column("chained_from_backfill", Integer),
    PrimaryKeyConstraint("tenant_id", "run_id"),
    UniqueConstraint("tenant_id", "idempotency_key"),
    Index(None, "tenant_id", "started_at", "run_id"),
    # One per list filter, in the list's newest-first order, so a filtered page (and the next
    # one, from its cursor) reads only the rows it shows (migration 0010).
    Index(None, "tenant_id", "status", "started_at", "run_id"),
    Index(None, "tenant_id", "requester", "started_at", "run_id"),
    Index(None, "tenant_id", "workflow", "started_at", "run_id"),
)

events = Table(
    "events",
    metadata,
    Column("tenant_id", Tenant, nullable=False),
    Column("run_id", Id, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("type", String(64), nullable=False),
    Column("data", Text, nullable=False),  # the event as JSON
    Column("at", UTCDateTime, nullable=False),
    Column("prev_hash", String(64)),  # the hash of the run's previous event (tamper evidence)
    Column("hash", String(64)),  # SHA-256 over the event's canonical form and prev_hash
    PrimaryKeyConstraint("tenant_id", "run_id", "seq"),
)

# Signed checkpoints: a tenant's Merkle root over all run heads (engine.audit.checkpoint).
checkpoints = Table(
    "checkpoints",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("tenant_id", Tenant, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("root", String(64), nullable=False),
    Column("leaves", Text, nullable=False),  # JSON [[run_id, seq, head], ...], sorted
    Column("signature", Text, nullable=False),
    Column("key_id", String(16)),  # the signing key's id; NULL: signed before key ids existed
    Index(None, "tenant_id", "at"),
)

steps = Table(
    "steps",
    metadata,
    Column("tenant_id", Tenant, nullable=False),
    Column("run_id", Id, nullable=False),
    Column("step_id", String(64), nullable=False),
    Column("type", String(32), nullable=False),
    Column("status", String(32), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("outcome", String(32)),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    PrimaryKeyConstraint("tenant_id", "run_id", "step_id"),
)

pending_tasks = Table(
    "pending_tasks",
    metadata,
    Column("tenant_id", Tenant, nullable=False),
    Column("run_id", Id, nullable=False),
    Column("step_id", String(64), nullable=False),
    Column("principal", String(320), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("workflow", String(64), nullable=False),
    Column("requester", String(320), nullable=False),
    Column("since", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("tenant_id", "run_id", "step_id", "principal"),
    # A person's tasks and the tenant's, each in the list's full order (oldest first), so a
    # page is read from the index without sorting (migration 0010).
    Index(None, "tenant_id", "principal", "since", "run_id", "step_id"),
    Index(None, "tenant_id", "since", "run_id", "step_id", "principal"),
)

# Who takes part in which run (`RunState.participants`: requester, approvers, voters, delegators),
# in each person's newest-first order, so `participant=` lists read only the rows they show
# (migration 0015). Rows are added as people join a run, never removed until the run is purged.
run_participants = Table(
    "run_participants",
    metadata,
    Column("tenant_id", Tenant, nullable=False),
    Column("principal", String(320), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("run_id", Id, nullable=False),
    PrimaryKeyConstraint("tenant_id", "principal", "started_at", "run_id"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("key", String(255), nullable=False, unique=True),
    Column("tenant_id", Tenant, nullable=False),
    Column("run_id", Id, nullable=False),
    Column("type", String(64), nullable=False),
    Column("payload", Text, nullable=False),  # the command as JSON
    Column("available_at", UTCDateTime, nullable=False),
    Column("locked_until", UTCDateTime),
    Column("attempts", Integer, nullable=False, default=0),
    Column("done_at", UTCDateTime),
    Column("last_error", Text),
    # Given up on (its outcome could not be recorded): never claimed until an operator retries.
    Column("dead_at", UTCDateTime),
    # Only open commands are indexed: the claim query never looks at done ones.
    Index(
        "ix_outbox_open",
        "available_at",
        "id",
        postgresql_where=text("done_at IS NULL"),
        sqlite_where=text("done_at IS NULL"),
    ),
)

aways = Table(
    "aways",
    metadata,
    Column("tenant_id", Tenant, nullable=False),
    Column("user", String(320), nullable=False),
    Column("delegate", String(320), nullable=False),
    Column("starts", UTCDateTime, nullable=False),
    Column("until", UTCDateTime, nullable=False),
    Column("created_by", String(320)),
    PrimaryKeyConstraint("tenant_id", "user"),
    Index(None, "tenant_id", "until"),
)

# Standing grants: an approver's "approve, and allow the same for N hours" (`engine.grants`).
grants = Table(
    "grants",
    metadata,
    Column("tenant_id", Tenant, nullable=False),
    Column("grant_id", Id, nullable=False),  # the granting approval's id
    Column("requester", String(320), nullable=False),
    Column("agent", String(200), nullable=False),
    Column("tool", String(200), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("arguments", Text, nullable=False),  # JSON
    Column("pattern", Text),  # JSON, or NULL for identical arguments only
    Column("granted_by", String(320), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
    Column("revoked_by", String(320)),
    PrimaryKeyConstraint("tenant_id", "grant_id"),
    Index(None, "tenant_id", "requester", "tool", "expires_at"),
    Index(None, "tenant_id", "expires_at"),
)

timers = Table(
    "timers",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("tenant_id", Tenant, nullable=False),
    Column("run_id", Id, nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("step_id", String(64)),
    Column("attempt", Integer, nullable=False, default=0),
    Column("locked_until", UTCDateTime),
    Index(None, "due_at"),
    Index(None, "tenant_id", "run_id"),
)
