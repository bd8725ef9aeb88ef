"""Block Kit builders: limits hold, user text is escaped, every field type has its element."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.blocks import ids
from bot.blocks.app_home import EVENTS_SHOWN, RUNS_SHOWN, TASKS_PER_PAGE, home_view
from bot.blocks.approval_card import approval_card, input_card
from bot.blocks.forms import read
from bot.blocks.kit import fit, metadata, section, truncate
from bot.blocks.modals import decision_modal, define_modal, input_modal, start_modal
from bot.blocks.run_status import run_message, workflows_blocks
from engine.definitions.models import ApprovalStep, InputStep, WorkflowDefinition
from engine.events import CommentAdded
from engine.ports import PendingTask, RecordedEvent, StoredDefinition
from engine.state import RunState, StepState, Vote
from tests.fakeslack.payloads import view_submission

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ALL_TYPES: list[dict[str, Any]] = [
    {"id": "title", "type": "text", "required": True},
    {"id": "why", "type": "multiline"},
    {"id": "amount", "type": "number", "min": 0, "max": 10000},
    {"id": "kind", "type": "select", "options": ["hw", "sw"]},
    {"id": "tags", "type": "multiselect", "options": [{"value": "a", "label": "A"}, "b"]},
    {"id": "day", "type": "date"},
    {"id": "at", "type": "datetime"},
    {"id": "manager", "type": "user"},
    {"id": "team", "type": "users"},
    {"id": "room", "type": "channel"},
    {"id": "mail", "type": "email"},
    {"id": "link", "type": "url"},
    {"id": "urgent", "type": "checkbox", "hint": "Needed this week"},
]
ELEMENTS = [
    "plain_text_input",
    "plain_text_input",
    "number_input",
    "static_select",
    "multi_static_select",
    "datepicker",
    "datetimepicker",
    "users_select",
    "multi_users_select",
    "conversations_select",
    "email_text_input",
    "url_text_input",
    "checkboxes",
]


def definition(**extra: Any) -> WorkflowDefinition:
    return WorkflowDefinition.model_validate(
        {
            "name": "expense",
            "title": "Expense approval with a rather long title",
            "inputs": ALL_TYPES,
            "steps": [
                {
                    "id": "manager",
                    "type": "approval",
                    "approvers": ["U0001", "U0002", "U0003"],
                    "policy": {"n": 2},
                    "fields": [{"id": "reason", "type": "multiline", "required_on": "reject"}],
                },
                {
                    "id": "details",
                    "type": "input",
                    "assignee": "U0001",
                    "fields": [{"id": "ticket", "type": "text", "required": True}],
                },
            ],
            **extra,
        }
    )


def run(**step: Any) -> RunState:
    return RunState(
        run_id="r1",
        tenant_id="T111",
        workflow="expense",
        version=1,
        requester="U0009",
        inputs={"title": "<!channel> free money <http://evil|click>", "amount": 12},
        started_at=T0,
        updated_at=T0,
        steps={
            "manager": StepState(id="manager", type="approval", **step),
            "details": StepState(id="details", type="input"),
        },
    )


def flat(blocks: list[Any]) -> str:
    return str([b.to_dict() for b in blocks])


def test_every_field_type_maps_to_its_element() -> None:
    view = start_modal(definition(), 3).to_dict()
    inputs = [b for b in view["blocks"] if b["type"] == "input"]
    assert [b["element"]["type"] for b in inputs] == ELEMENTS
    assert [b["block_id"] for b in inputs] == [f["id"] for f in ALL_TYPES]
    assert inputs[0]["optional"] is False and inputs[1]["optional"] is True
    assert len(view["title"]["text"]) <= 24 and view["title"]["text"].endswith("…")


def test_submitted_state_reads_back_as_values() -> None:
    view = start_modal(definition(), 1).to_dict()
    payload = view_submission(
        "U0001",
        {**view, "id": "V1"},
        {
            "title": "Laptop",
            "amount": "12.5",
            "kind": "hw",
            "tags": ["a", "b"],
            "day": "2026-03-02",
            "at": 1772442000,
            "manager": "U0002",
            "team": ["U0003", "U0004"],
            "room": "C1",
            "mail": "a@example.com",
            "link": "https://x.example",
            "urgent": ["true"],
        },
    )
    values = read(definition().inputs, payload["view"]["state"]["values"])
    assert values == {
        "title": "Laptop",
        "amount": "12.5",
        "kind": "hw",
        "tags": ["a", "b"],
        "day": "2026-03-02",
        "at": "2026-03-02T09:00:00+00:00",
        "manager": "U0002",
        "team": ["U0003", "U0004"],
        "room": "C1",
        "mail": "a@example.com",
        "link": "https://x.example",
        "urgent": True,
    }


def test_user_text_cannot_ping_or_forge_links() -> None:
    _, blocks = approval_card(run(status="waiting", required=2), definition(), "manager", "U0001")
    text = flat(blocks)
    assert "<!channel>" not in text and "<http://evil" not in text
    assert "&lt;!channel&gt;" in text


def test_pending_card_has_buttons_and_progress() -> None:
    state = run(
        status="waiting",
        required=2,
        approvers=["U0001", "U0002", "U0003"],
        votes=[Vote(actor="U0002", decision="approve", channel="slack", at=T0)],
    )
    _, blocks = approval_card(state, definition(), "manager", "U0001")
    dicts = [b.to_dict() for b in blocks]
    assert dicts[-1]["type"] == "actions"
    assert [e["action_id"] for e in dicts[-1]["elements"]] == [
        ids.APPROVE,
        ids.REJECT,
        ids.ASK,
        ids.DELEGATE,
    ]
    assert "1 of 2 approvals" in flat(blocks)
    _, voted = approval_card(state, definition(), "manager", "U0002")
    assert "actions" not in [b.to_dict()["type"] for b in voted]
    assert "You approved" in flat(voted)


def test_decided_card_shows_outcome_who_and_no_buttons() -> None:
    state = run(
        status="rejected",
        outcome="rejected",
        required=2,
        finished_at=T0,
        votes=[
            Vote(
                actor="U0003",
                decision="reject",
                fields={"reason": "too much"},
                channel="slack",
                at=T0,
            )
        ],
    )
    text, blocks = approval_card(state, definition(), "manager", "U0001")
    assert "closed" in text
    assert "actions" not in [b.to_dict()["type"] for b in blocks]
    assert "Rejected" in flat(blocks) and "<@U0003> rejected" in flat(blocks)
    assert "too much" in flat(blocks)


def test_input_card_and_modals() -> None:
    defn = definition()
    _, blocks = input_card(run(status="waiting"), defn, "manager")
    assert blocks[-1].to_dict()["elements"][0]["action_id"] == ids.OPEN_INPUT
    step = defn.step("details")
    assert isinstance(step, InputStep)
    modal = input_modal(step, "r1", "Please <!here> fill").to_dict()
    assert "&lt;!here&gt;" in str(modal)
    approval = defn.step("manager")
    assert isinstance(approval, ApprovalStep)
    reject = decision_modal(approval, "r1", "reject").to_dict()
    approve = decision_modal(approval, "r1", "approve").to_dict()
    assert reject["blocks"][0]["optional"] is False and approve["blocks"][0]["optional"] is True
    assert define_modal().to_dict()["callback_id"] == ids.DEFINE_VIEW


def test_long_text_is_cut_with_an_ellipsis_not_rejected() -> None:
    long = "x" * 5000
    assert len(section(long).to_dict()["text"]["text"]) == 3000
    assert truncate(long, 24).endswith("…") and len(truncate(long, 24)) == 24
    state = run(status="waiting", required=1)
    state.inputs["title"] = long
    _, blocks = approval_card(state, definition(), "manager", "U0001")
    for block in blocks:
        block.to_dict()  # slack_sdk validates every limit it knows


def test_fit_keeps_buttons_and_says_what_was_left_out() -> None:
    blocks = [section(str(i)) for i in range(120)]
    fitted = fit(blocks, 50, keep_last=1)
    assert len(fitted) == 50
    assert fitted[-1] is blocks[-1]
    assert "71 more not shown" in flat([fitted[-2]])


def test_private_metadata_over_the_limit_is_a_bug() -> None:
    with pytest.raises(ValueError, match="3000"):
        metadata({"x": "y" * 3000})


def task(i: int) -> PendingTask:
    return PendingTask(
        tenant_id="T111",
        run_id=f"r{i}",
        step_id="manager",
        principal="U0001",
        kind="approval",
        workflow="expense",
        requester="U0009",
        since=T0,
    )


def test_app_home_pages_a_long_inbox_within_100_blocks() -> None:
    runs = [run(status="waiting") for _ in range(50)]
    first = home_view(
        [task(i) for i in range(TASKS_PER_PAGE + 1)], page=0, has_newer=True, runs=runs, recent=[]
    ).to_dict()
    assert len(first["blocks"]) <= 100
    nav = next(b for b in first["blocks"] if b.get("block_id") == "home_pages")
    assert [e["text"]["text"] for e in nav["elements"]] == ["Newer"]
    middle = home_view(
        [task(i) for i in range(5)], page=7, has_newer=True, runs=[], recent=[]
    ).to_dict()
    nav = next(b for b in middle["blocks"] if b.get("block_id") == "home_pages")
    assert [e["value"] for e in nav["elements"]] == ["6", "8"]


def test_a_full_home_keeps_every_rows_buttons_within_100_blocks() -> None:
    """The largest Home: a full page of tasks (each with its deadlines line), both page
    buttons, every run and every event shown."""
    tasks = [task(i) for i in range(TASKS_PER_PAGE - 1)]
    tasks.append(replace(task(TASKS_PER_PAGE), kind="input", step_id="details"))
    recent = [
        RecordedEvent("T111", "r1", i, CommentAdded(at=T0, actor="U0001", text="x", channel="api"))
        for i in range(EVENTS_SHOWN)
    ]
    view = home_view(
        tasks,
        page=1,
        has_newer=True,
        runs=[run(status="waiting") for _ in range(RUNS_SHOWN)],
        recent=recent,
        slas={(t.run_id, t.step_id): "waiting 2h" for t in tasks},
    ).to_dict()
    assert len(view["blocks"]) <= 100
    assert not any("more not shown" in str(b) for b in view["blocks"])
    rows = [b for b in view["blocks"] if str(b.get("block_id", "")).startswith("task|")]
    buttons = [[e["action_id"] for e in b["elements"]] for b in rows]
    approval = [ids.APPROVE, ids.REJECT, ids.ASK, ids.DELEGATE]
    assert buttons == [approval] * (TASKS_PER_PAGE - 1) + [[ids.OPEN_INPUT, ids.DELEGATE]]
    values = {e["value"] for b in rows for e in b["elements"]}
    assert values == {ids.StepRef(t.run_id, t.step_id).value() for t in tasks}


def test_run_message_and_workflow_list() -> None:
    text, blocks = run_message(run(status="waiting"), definition())
    assert "expense" in flat(blocks).lower() and text
    stored = StoredDefinition(
        tenant_id="T111",
        name="expense",
        version=2,
        definition=definition(),
        source="",
        created_at=T0,
    )
    listed = workflows_blocks([stored])[0].to_dict()
    assert listed["accessory"]["action_id"] == ids.OPEN_START
    assert listed["accessory"]["value"] == "expense"
