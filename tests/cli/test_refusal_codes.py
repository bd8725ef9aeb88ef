"""The CLI gives the refusals of the shared tables (tests/refusal_cases.py) as one line each,
worded by the refusal's code; nothing is recorded. The CLI decides and fills in forms; it does
not hand requests on or ask (`OFFERED`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.main import main
from tests.refusal_cases import (
    CASES,
    IDS,
    INPUT_CASES,
    INPUT_IDS,
    VALUES,
    Case,
    InputCase,
    People,
    gate_flow,
    input_flow,
)

PEOPLE = People(requester="U0REQ", a="U0ANN", b="U0BOB", stranger="U0EVE")
WORDING = {
    "not_approver": "as U0EVE: you are not an approver of this step",
    "already_voted": "U0ANN already approved step review of {run}; nothing changed",
    "closed": "{run}: step review is not waiting for a decision (it is approved)",
    "own_request": "as U0REQ: you cannot approve your own request",
}


@pytest.fixture(autouse=True)
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def votes(capsys: pytest.CaptureFixture[str], run_id: str) -> int:
    _, out, _ = cli(capsys, "--json", "runs", "show", run_id)
    return len(json.loads(out)["steps"]["review"]["votes"])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_each_refusal_is_one_line_worded_by_its_code(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flow = tmp_path / "gate.yaml"
    flow.write_text(gate_flow(case.policy, PEOPLE))
    assert cli(capsys, "workflows", "apply", str(flow))[0] == 0
    _, out, _ = cli(capsys, "--json", "runs", "start", f"gate-{case.policy}", "--as", "U0REQ")
    run_id = json.loads(out)["run_id"]
    for who in case.before:
        assert (
            cli(
                capsys, "runs", "decide", run_id, "review", "approve", "--as", getattr(PEOPLE, who)
            )[0]
            == 0
        )
    actor = getattr(PEOPLE, case.actor)
    code, _, err = cli(capsys, "runs", "decide", run_id, "review", "approve", "--as", actor)
    assert code == 1
    assert err.strip() == "error: " + WORDING[case.code].format(run=run_id)
    assert votes(capsys, run_id) == len(case.before)


INPUT_WORDING = {
    "not_assignee": "as U0EVE: you are not the assignee of this step",
    "closed": "{run}: step form is not waiting for input (it is completed)",
}


@pytest.mark.parametrize("case", INPUT_CASES, ids=INPUT_IDS)
def test_each_input_refusal_is_one_line_worded_by_its_code(
    case: InputCase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flow = tmp_path / "input.yaml"
    flow.write_text(input_flow(PEOPLE))
    assert cli(capsys, "workflows", "apply", str(flow))[0] == 0
    _, out, _ = cli(capsys, "--json", "runs", "start", "gate-input", "--as", "U0REQ")
    run_id = json.loads(out)["run_id"]
    submit = ("runs", "submit", run_id, "form", "--as")
    if case.submitted:
        assert cli(capsys, *submit, PEOPLE.a, "-f", "ticket=CHG-1")[0] == 0
    code, _, err = cli(capsys, *submit, getattr(PEOPLE, case.actor), "-f", "ticket=CHG-2")
    assert code == 1
    assert err.strip() == "error: " + INPUT_WORDING[case.code].format(run=run_id)
    _, out, _ = cli(capsys, "--json", "runs", "show", run_id)
    step = json.loads(out)["steps"]["form"]
    assert step["output"] == (
        {"values": VALUES, "submitted_by": PEOPLE.a} if case.submitted else {}
    )
