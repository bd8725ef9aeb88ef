"""`countersign runs decide` records one approver's vote, judged by the engine like a vote from
Slack or email; `--override --reason` is the separate, audited way to close a step;
`runs submit` fills in an input step as its assignee; choice options are checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.main import main

FLOW = """\
name: access
steps:
  - id: owners
    type: approval
    approvers: [U0ANN, U0BOB, U0CAT]
    policy: {n: 2}
    fields:
      - {id: comment, type: text, required_on: reject}
  - id: details
    type: input
    assignee: U0DAN
    fields:
      - {id: hosts, type: number, required: true, min: 1}
      - {id: note, type: text}
"""


@pytest.fixture(autouse=True)
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def run_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    flow = tmp_path / "access.yaml"
    flow.write_text(FLOW)
    assert main(["workflows", "apply", str(flow)]) == 0
    capsys.readouterr()
    assert main(["--json", "runs", "start", "access", "--as", "U0REQ"]) == 0
    run_id = json.loads(capsys.readouterr().out)["run_id"]
    return str(run_id)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run(capsys: pytest.CaptureFixture[str], run_id: str) -> dict[str, object]:
    assert main(["--json", "runs", "show", run_id]) == 0
    return dict(json.loads(capsys.readouterr().out))


def timeline(capsys: pytest.CaptureFixture[str], run_id: str) -> str:
    return "\n".join(e["text"] for e in run(capsys, run_id)["timeline"])  # type: ignore[attr-defined]


def test_decide_records_one_vote_of_the_named_approver(
    run_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "runs", "decide", run_id, "owners", "approve", "--as", "U0ANN")
    assert code == 0
    assert "step owners still waiting (1 vote(s) so far, 2 needed)" in out
    assert run(capsys, run_id)["current_step"] == "owners"  # {n: 2}: one vote does not close it

    # Refusals are the engine's, worded for the operator; nothing is recorded.
    before = timeline(capsys, run_id)
    code, _, err = cli(capsys, "runs", "decide", run_id, "owners", "approve", "--as", "U0EVE")
    assert code == 1
    assert err.strip() == "error: as U0EVE: you are not an approver of this step"
    code, _, err = cli(capsys, "runs", "decide", run_id, "owners", "approve", "--as", "U0ANN")
    assert code == 1
    assert f"U0ANN already approved step owners of {run_id}; nothing changed" in err
    code, _, err = cli(capsys, "runs", "decide", run_id, "owners", "reject", "--as", "U0ANN")
    assert code == 1 and "as U0ANN: you already approved this step" in err
    code, _, err = cli(capsys, "runs", "decide", run_id, "owners", "approve")
    assert code == 1 and "--as PERSON" in err
    code, _, err = cli(capsys, "runs", "decide", run_id, "details", "approve", "--as", "U0ANN")
    assert code == 1 and "step details is not an approval step" in err
    assert timeline(capsys, run_id) == before
    assert len(err.strip().splitlines()) == 1

    code, out, _ = cli(capsys, "runs", "decide", run_id, "owners", "approve", "--as", "U0BOB")
    assert code == 0 and "step owners approved" in out
    assert run(capsys, run_id)["current_step"] == "details"
    assert "U0BOB approved step owners via cli" in timeline(capsys, run_id)
    code, _, err = cli(capsys, "runs", "decide", run_id, "owners", "reject", "--as", "U0CAT")
    assert code == 1 and "step owners is not waiting for a decision (it is approved)" in err


def test_override_closes_a_step_with_a_reason_in_the_timeline(
    run_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(capsys, "runs", "decide", run_id, "owners", "approve", "--override")
    assert code == 1 and "--override needs --reason" in err
    assert run(capsys, run_id)["current_step"] == "owners"

    code, out, _ = cli(
        capsys,
        *("runs", "decide", run_id, "owners", "reject", "--override", "--as", "U0OPS"),
        *("--reason", "owners on leave", "-f", "comment=revoked by ops"),
    )
    assert code == 0 and "step owners rejected; run" in out
    assert run(capsys, run_id)["status"] in ("rejected", "compensating")
    assert "U0OPS rejected step owners via cli (operator override: owners on leave)" in timeline(
        capsys, run_id
    )


def test_submit_fills_in_an_input_step_as_its_assignee(
    run_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for who in ("U0ANN", "U0BOB"):
        assert main(["runs", "decide", run_id, "owners", "approve", "--as", who]) == 0
    capsys.readouterr()

    submit = ("runs", "submit", run_id, "details")
    code, _, err = cli(capsys, *submit, "-f", "hosts=3", "--as", "U0ANN")
    assert code == 1 and err.strip() == "error: as U0ANN: you are not the assignee of this step"
    code, _, err = cli(capsys, *submit, "-f", "hosts=0", "--as", "U0DAN")
    assert code == 1 and "hosts" in err
    assert run(capsys, run_id)["current_step"] == "details"

    code, out, _ = cli(
        capsys,
        *("runs", "submit", run_id, "details", "-f", "hosts=3", "-f", "note=eu-west"),
        *("--as", "U0DAN"),
    )
    assert code == 0 and "step details done; run completed" in out
    shown = run(capsys, run_id)
    assert shown["steps"]["details"]["output"]["values"] == {"hosts": 3, "note": "eu-west"}  # type: ignore[index]
    assert "U0DAN filled in step details via cli" in timeline(capsys, run_id)
    code, _, err = cli(capsys, *submit, "-f", "hosts=3", "-f", "note=eu-west", "--as", "U0DAN")
    assert code == 1 and "U0DAN already filled in step details" in err
    code, _, err = cli(capsys, *submit, "-f", "hosts=4", "--as", "U0DAN")
    assert code == 1 and "step details is not waiting for input (it is completed)" in err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["runs", "list", "--status", "bogus"], "invalid choice: 'bogus'"),
        (["runs", "list", "--limit", "0"], "'0' is not a whole number of 1 or more"),
        (["runs", "decide", "r1", "s1", "maybe", "--as", "U0ANN"], "invalid choice: 'maybe'"),
    ],
)
def test_choice_options_are_checked(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert said in capsys.readouterr().err
