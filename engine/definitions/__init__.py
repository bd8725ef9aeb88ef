"""Workflow definitions: models, loading with line numbers, cross-checks, schema."""

from engine.definitions.checks import check_definition
from engine.definitions.loader import load_definition
from engine.definitions.models import STEP_TYPES, FormField, Step, WorkflowDefinition
from engine.definitions.schema import canonical_json, json_schema

__all__ = [
    "STEP_TYPES",
    "FormField",
    "Step",
    "WorkflowDefinition",
    "canonical_json",
    "check_definition",
    "json_schema",
    "load_definition",
]
