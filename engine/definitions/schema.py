"""Serialized forms of a definition: the JSON Schema editors validate against, and the canonical
JSON that versioning compares (so reformatting a file does not make a new version)."""

from __future__ import annotations

import json
from typing import Any

from engine.definitions.models import WorkflowDefinition

SCHEMA_ID = "https://countersign.dev/schema/workflow.schema.json"


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a workflow file."""
    schema = WorkflowDefinition.model_json_schema(by_alias=True)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Countersign workflow",
        **{k: v for k, v in schema.items() if k != "title"},
    }


def canonical_json(defn: WorkflowDefinition) -> str:
    """The definition as JSON with sorted keys: equal for equal definitions, whatever the text."""
    data = defn.model_dump(mode="json", by_alias=True)
    if data.get("schedule") is None:  # definitions saved before `schedule:` keep their hash
        data.pop("schedule", None)
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
