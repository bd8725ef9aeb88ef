"""Sound definitions: the examples load, survive a round trip, and match the JSON Schema."""

from __future__ import annotations

import json
import pathlib

import pytest
import yaml

from engine import templates
from engine.definitions import (
    WorkflowDefinition,
    canonical_json,
    json_schema,
    load_definition,
)
from engine.definitions.models import ApprovalStep, HttpStep, NOf, WaitStep

EXAMPLES = sorted((pathlib.Path(__file__).parents[2] / "manifests" / "workflows").glob("*.yaml"))


def test_the_three_examples_are_there() -> None:
    names = {p.stem for p in EXAMPLES}
    assert {"expense-approval", "access-request", "deploy-approval"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_loads(path: pathlib.Path) -> None:
    defn = load_definition(path.read_text(), str(path))
    assert defn.name == path.stem


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_round_trip_through_canonical_json_keeps_the_definition(path: pathlib.Path) -> None:
    defn = load_definition(path.read_text(), path.name)
    canonical = canonical_json(defn)
    again = WorkflowDefinition.model_validate(json.loads(canonical))
    assert again == defn
    assert canonical_json(again) == canonical
    # The canonical JSON is itself a valid workflow file.
    assert load_definition(canonical, "same.json") == defn


def test_expense_example_says_what_the_brief_asks() -> None:
    defn = load_definition((EXAMPLES[0].parent / "expense-approval.yaml").read_text())
    finance = defn.step("finance")
    book = defn.step("book")
    assert isinstance(finance, ApprovalStep) and finance.when == "inputs.amount > 1000"
    assert finance.fields[0].required_on == "reject"
    assert isinstance(book, HttpStep) and book.compensate is not None
    assert book.retry.max_attempts == 5
    assert book.headers["Authorization"] == "Bearer {{ secrets.ERP_TOKEN }}"


def test_access_example_needs_two_of_three_and_escalates() -> None:
    defn = load_definition((EXAMPLES[0].parent / "access-request.yaml").read_text())
    owners = defn.step("owners")
    assert isinstance(owners, ApprovalStep)
    assert owners.policy == NOf(n=2) and len(owners.approvers) == 3
    assert owners.on_timeout == "escalate" and owners.escalate_to
    assert owners.timeout is not None and owners.timeout.seconds == 2 * 86400


def test_reformatting_the_text_does_not_change_the_canonical_form() -> None:
    compact = "name: w\nsteps: [{id: a, type: wait, duration: 2 days}]\n"
    spelled_out = (
        "# same workflow, other spelling\n"
        "name: w\n"
        "steps:\n"
        "  - type: wait\n"
        "    duration: 48h\n"
        "    id: a\n"
    )
    assert canonical_json(load_definition(compact)) == canonical_json(load_definition(spelled_out))
    changed = compact.replace("2 days", "3 days")
    assert canonical_json(load_definition(changed)) != canonical_json(load_definition(compact))


def test_json_files_load_like_yaml() -> None:
    text = json.dumps(
        {"name": "w", "steps": [{"id": "a", "type": "notify", "message": "{{ requester }}"}]},
        indent="\t",
    )
    defn = load_definition(text, "w.json")
    assert defn.steps[0].id == "a"


def test_schema_has_its_identity() -> None:
    schema = json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith("workflow.schema.json")
    assert schema["title"] == "Countersign workflow"
    json.dumps(schema)  # serialisable as is


def test_examples_validate_against_the_json_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(json_schema())
    for path in EXAMPLES:
        errors = list(validator.iter_errors(yaml.safe_load(path.read_text())))
        assert not errors, f"{path.name}: {[e.message for e in errors]}"


def test_json_schema_refuses_an_unknown_step_type() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(json_schema())
    bad = {"name": "w", "steps": [{"id": "a", "type": "aproval", "approvers": ["U0AAA"]}]}
    assert list(validator.iter_errors(bad))


SAMPLE_CONTEXT: dict[str, object] = {
    "inputs": {
        "amount": 1500,
        "currency": "EUR",
        "description": "Team dinner",
        "manager": "U0MANAGER1",
        "system": "billing-db",
        "level": "read",
        "justification": "on-call",
        "service": "api",
        "version": "1.2.3",
        "release_manager": "U0RELEASE1",
        "request": "A second monitor",
        "approver": None,
    },
    "steps": {
        "manager": {"decision": "approved", "decided_by": ["U0MANAGER1"], "fields": {}},
        "owners": {"decision": "approved", "decided_by": ["U0OWNER001"], "fields": {}},
        "book": {"status": 201, "response": {"id": "EXP-7"}},
        "grant": {"status": 201, "response": {"id": "G-1"}},
        "ticket": {
            "values": {"ticket_url": "https://t.example/CHG-1", "window": "2026-03-01T09:00Z"},
            "submitted_by": "U0RELEASE1",
        },
        "approve": {"decision": "approved", "decided_by": ["U0LEAD0001"], "fields": {}},
    },
    "run": {"id": "r1", "workflow": "w", "version": 1, "requester": "U0REQUEST1"},
    "requester": "U0REQUEST1",
    "secrets": {"ERP_TOKEN": "t", "IAM_TOKEN": "t"},
    "app": {"url": "http://127.0.0.1:8080"},
}


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() if k != "when" for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_templates_render_with_the_outputs_steps_produce(path: pathlib.Path) -> None:
    defn = load_definition(path.read_text(), path.name)
    for step in defn.steps:
        if step.when is not None:
            assert isinstance(templates.evaluate(step.when, SAMPLE_CONTEXT), bool)
        for text in _strings(step.model_dump(by_alias=True, mode="json")):
            if "{{" in text:
                assert "{{" not in templates.render(text, SAMPLE_CONTEXT)


def test_yaml_scalars_load_as_json_would_say_them() -> None:
    defn = load_definition(
        "name: w\n"
        "inputs:\n"
        "  - {id: answer, type: select, options: [yes, no, on], default: no}\n"
        "  - {id: day, type: date, default: 2026-01-01}\n"
        "  - {id: ok, type: checkbox, default: true}\n"
        "steps:\n"
        "  - {id: a, type: wait, until: 2030-01-01T00:00:00Z}\n"
    )
    answer, day, ok = defn.inputs
    assert answer.options == ["yes", "no", "on"] and answer.default == "no"
    assert day.default == "2026-01-01" and ok.default is True
    wait = defn.steps[0]
    assert isinstance(wait, WaitStep) and wait.until == "2030-01-01T00:00:00Z"
