"""What lists show of a run: a summary rendered once at the start (or the key inputs), and step
titles rendered like messages."""

from __future__ import annotations

import textwrap

import pytest

from engine import events as ev
from engine import triggers as tr
from engine.decider import decide, replay
from engine.definitions import load_definition
from engine.definitions.models import WorkflowDefinition
from engine.display import step_title
from engine.errors import DefinitionError
from tests.engine.harness import REQUESTER, T0

INPUTS = """
inputs:
  - {id: note, type: text, label: Note}
  - {id: vendor, type: text, label: Vendor, required: true}
  - {id: amount, type: number, label: Amount, required: true}
  - {id: region, type: select, label: Region, required: true,
     options: [{value: emea, label: Europe}, us]}
  - {id: urgent, type: checkbox, label: Urgent, required: true}
"""
STEPS = """
steps:
  - {id: legal, type: approval, approvers: [U0LEGAL], title: "Legal review of {{ inputs.vendor }}"}
  - {id: pay, type: approval, approvers: [U0CFO], title: "Pay {{ steps.legal.decided_by }}"}
"""


def _definition(head: str = "") -> WorkflowDefinition:
    text = "name: vendor-onboarding\n" + head + INPUTS + STEPS
    return load_definition(textwrap.dedent(text), "wf.yaml")


def _start(definition: WorkflowDefinition, **inputs: object) -> ev.RunStarted:
    values = {"vendor": "Globex Corp", "amount": 1200, "region": "emea", "urgent": False}
    values |= inputs
    trigger = tr.StartRun(run_id="r1", tenant_id="T1", requester=REQUESTER, inputs=values)
    started = decide(definition, None, trigger, T0).events[0]
    assert isinstance(started, ev.RunStarted)
    return started


def test_a_declared_summary_is_rendered_once_into_run_started_and_replay_keeps_it() -> None:
    definition = _definition('summary: "{{ inputs.vendor }},\n  {{ inputs.amount }} EUR"\n')
    started = _start(definition)
    assert started.summary == "Globex Corp, 1200 EUR"
    assert replay([started]).summary == "Globex Corp, 1200 EUR"


def test_without_a_summary_the_first_required_inputs_show_by_their_labels() -> None:
    started = _start(_definition(), amount=1200.0)
    # Required inputs first, option labels for select values, whole numbers without ".0";
    # an unticked checkbox says nothing, so the optional note fills the third place.
    assert started.summary == "Vendor: Globex Corp, Amount: 1200, Region: Europe"
    assert _start(_definition(), urgent=True).summary == (
        "Vendor: Globex Corp, Amount: 1200, Region: Europe"
    )
    long = _start(_definition(), vendor="A" * 100).summary
    assert long.startswith("Vendor: AAAA") and "…" in long and len(long) < 100


def test_a_summary_that_renders_empty_falls_back_to_the_key_inputs() -> None:
    definition = _definition('summary: "{{ inputs.note }}"\n')
    assert _start(definition).summary.startswith("Vendor: Globex Corp")
    assert _start(definition, note="  Renewal\n2027 ").summary == "Renewal 2027"


@pytest.mark.parametrize(
    ("summary", "phrase"),
    [
        ("{{ inputs.vendr }}", "unknown input 'vendr'; declared inputs: note, vendor"),
        ("{{ steps.legal.decided_by }}", "rendered when the run starts, before any step"),
        ("{{ secrets.TOKEN }}", "secrets can be used only in an http url"),
        ("{{ inputs.vendor ", "template syntax error"),
    ],
)
def test_a_summary_with_unknown_references_is_refused_at_apply(summary: str, phrase: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        _definition(f"summary: {summary!r}\n")
    [issue] = caught.value.issues
    assert issue.field == "summary" and phrase in issue.message and issue.line == 2


def test_a_step_title_is_a_template_checked_at_apply() -> None:
    bad = STEPS.replace("inputs.vendor", "inputs.vendr")
    text = "name: vendor-onboarding\n" + INPUTS + bad
    with pytest.raises(DefinitionError) as caught:
        load_definition(textwrap.dedent(text), "wf.yaml")
    [issue] = caught.value.issues
    assert issue.field == "steps.0.title" and "unknown input 'vendr'" in issue.message


def test_a_step_title_renders_with_the_runs_context() -> None:
    definition = _definition()
    run = replay([_start(definition)])
    assert step_title(definition, run, "legal") == "Legal review of Globex Corp"
    # A title that reads a step not reached yet shows the step's id, never raw braces.
    assert step_title(definition, run, "pay") == "pay"
