"""`schedule:` in a workflow file: what loads, what the JSON Schema says, and that definitions
without a schedule keep the canonical form (and so the version) they had before it existed."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from engine.definitions import canonical_json, json_schema, load_definition
from engine.schedules import next_fire

TEXT = """
name: x
inputs:
  - id: region
    type: select
    options: [emea, amer]
    required: true
steps:
  - id: a
    type: wait
    duration: 1m
"""


def test_an_interval_with_a_local_start_fires_on_that_wall_clock() -> None:
    defn = load_definition(
        TEXT
        + "schedule:\n  every: 1d\n  start: 2026-12-01T08:00\n  timezone: Europe/Berlin\n"
        + "  inputs: {region: emea}\n"
    )
    assert defn.schedule is not None
    assert defn.schedule.misfire == "run_once" and defn.schedule.requester == "system:schedule"
    first = next_fire(defn.schedule, datetime(2026, 11, 30, tzinfo=UTC), anchor=datetime.now(UTC))
    assert first == datetime(2026, 12, 1, 7, 0, tzinfo=UTC)  # 08:00 CET


def test_a_definition_without_a_schedule_keeps_its_canonical_form() -> None:
    canonical = json.loads(canonical_json(load_definition(TEXT)))
    assert "schedule" not in canonical
    scheduled = load_definition(TEXT + 'schedule:\n  cron: "0 9 * * *"\n  inputs: {region: amer}\n')
    assert json.loads(canonical_json(scheduled))["schedule"]["cron"] == "0 9 * * *"


def test_the_json_schema_describes_the_schedule() -> None:
    schema = json_schema()
    assert "schedule" in schema["properties"]
    props = schema["$defs"]["Schedule"]["properties"]
    assert props["misfire"]["enum"] == ["run_once", "skip"]
    assert {"cron", "every", "timezone", "inputs", "requester", "start", "grace"} <= set(props)
