"""Every key leads with `tenant_id`, so a lookup stays inside one tenant and the tables can be
split by tenant later; the few that cannot are listed here with the reason."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import PrimaryKeyConstraint, UniqueConstraint

from storage.migrate import full_metadata

# (table, key columns) -> why the key cannot lead with the tenant.
EXCEPTIONS = {
    ("api_keys", ("id",)): "a random id, globally unique; the key is found before its tenant",
    ("api_keys", ("secret_hash",)): "a bearer token is looked up before its tenant is known",
    ("web_sessions", ("token_hash",)): "a cookie is looked up before its tenant is known",
    ("outbox", ("id",)): "one queue claimed in order across tenants by the dispatchers",
    ("outbox", ("key",)): "command keys embed the run id; the queue is shared by all tenants",
    ("timers", ("id",)): "one queue of due timers across tenants; ids embed the run id",
    # SQLite autoincrements only a lone integer key; checkpoints are read by (tenant_id, at).
    ("checkpoints", ("id",)): "an autoincrement id, read through the (tenant_id, at) index",
    # Tables of slack_sdk's installation and OAuth-state stores: its schema, keyed by its own
    # ids (installations are per Slack team, found from each request's team id).
    ("slack_bots", ("id",)): "slack_sdk's installation store schema",
    ("slack_installations", ("id",)): "slack_sdk's installation store schema",
    ("slack_oauth_states", ("id",)): "slack_sdk's OAuth state store: a state precedes any tenant",
}


def _keys() -> list[tuple[str, tuple[str, ...]]]:
    found = []
    for table in full_metadata().sorted_tables:
        for constraint in table.constraints:
            if isinstance(constraint, PrimaryKeyConstraint | UniqueConstraint):
                found.append((table.name, tuple(c.name for c in constraint.columns)))
        found += [(table.name, tuple(c.name for c in i.columns)) for i in table.indexes if i.unique]
    return found


def test_every_primary_and_unique_key_leads_with_the_tenant_or_is_a_listed_exception() -> None:
    keys = _keys()
    assert ("runs", ("tenant_id", "run_id")) in keys  # the walk sees the keys at all
    stray = [k for k in keys if k[1][0] != "tenant_id" and k not in EXCEPTIONS]
    assert stray == [], "lead with tenant_id, or list the key in EXCEPTIONS with the reason"


def test_the_listed_exceptions_still_exist() -> None:
    assert set(EXCEPTIONS) - set(_keys()) == set()  # a fixed key leaves the list


def test_the_readme_scaling_section_places_every_table_and_each_exception() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("## Scaling", 1)[1].split("\n## ", 1)[0]
    tables = {t.name for t in full_metadata().sorted_tables}
    assert {table for table, _ in EXCEPTIONS} <= tables
    assert sorted(t for t in tables if f"`{t}`" not in section) == []
