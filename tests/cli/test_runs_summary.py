"""`countersign runs list` and `tasks list` say what each run is about."""

from __future__ import annotations

import pytest

from cli.main import main
from tests.cli.test_cli import EXPENSE, database, run_json

__all__ = ["database"]  # the autouse fixture: a SQLite file per test


def test_runs_and_tasks_lists_show_each_runs_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["workflows", "apply", str(EXPENSE)]) == 0
    for amount, what in (("20", "Taxi"), ("45", "Hotel")):
        inputs = ["-i", f"amount={amount}", "-i", f"description={what}", "-i", "manager=U0MAN"]
        assert main(["runs", "start", "expense-approval", *inputs, "--as", "U0ALICE"]) == 0
    capsys.readouterr()
    assert main(["runs", "list"]) == 0
    listed = capsys.readouterr().out
    assert listed.splitlines()[0].endswith("SUMMARY")
    # No summary declared: the required inputs by their labels.
    assert "Amount: 20, What was it for?: Taxi, Your manager: U0MAN" in listed
    assert "Amount: 45, What was it for?: Hotel" in listed
    rows = run_json(capsys, "runs", "list")
    assert isinstance(rows, list)
    assert {r["summary"].split(",")[0] for r in rows} == {"Amount: 20", "Amount: 45"}
    assert main(["tasks", "list"]) == 0
    tasks = capsys.readouterr().out
    assert "Amount: 20, What was it for?: Taxi" in tasks and "Hotel" in tasks
