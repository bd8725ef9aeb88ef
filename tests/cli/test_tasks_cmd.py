"""`countersign tasks list`: the SLA view of pending human tasks, for people and for scripts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.main import main

TIMED = """
name: timed
steps:
  - id: manager
    type: approval
    approvers: ["U0BOB"]
    remind_every: 2h
    timeout: 1d
    on_timeout: reject
"""


@pytest.fixture(autouse=True)
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_tasks_list_shows_waited_next_reminder_and_timeout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flow = tmp_path / "timed.yaml"
    flow.write_text(TIMED)
    assert main(["workflows", "apply", str(flow)]) == 0
    capsys.readouterr()
    assert main(["--json", "runs", "start", "timed", "--as", "U0REQ"]) == 0
    run_id = json.loads(capsys.readouterr().out)["run_id"]

    assert main(["tasks", "list"]) == 0
    out = capsys.readouterr().out
    header, row = out.splitlines()[:2]
    assert header.split() == [
        "WAITED",
        "RUN",
        "STEP",
        "WAITING",
        "ON",
        "NEXT",
        "REMINDER",
        "ESCALATION/TIMEOUT",
        "SUMMARY",
    ]
    assert row.split()[:2] == ["<1m", run_id]
    assert "timed/manager" in row and "U0BOB" in row
    # The reminder moves into Bob's working hours, so only its presence is certain here.
    assert row.count(" in ") == 2 and row.rstrip().endswith("times out in 23h59m")

    assert main(["tasks", "list", "--as", "U0BOB", "--json"]) == 0
    [task] = json.loads(capsys.readouterr().out)
    assert task["run_id"] == run_id and task["approvers"] == ["U0BOB"]
    assert task["times_out_at"] is not None and task["paused"] is False

    assert main(["tasks", "list", "--as", "U0CAROL"]) == 0
    assert "nothing is waiting" in capsys.readouterr().out
    assert main(["tasks", "list", "--tenant", "elsewhere"]) == 0
    assert "nothing is waiting" in capsys.readouterr().out
