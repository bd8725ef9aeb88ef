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
    assert "20 EUR: Taxi" in listed and "45 EUR: Hotel" in listed  # its `summary:`
    rows = run_json(capsys, "runs", "list")
    assert isinstance(rows, list)
    assert {r["summary"] for r in rows} == {"20 EUR: Taxi", "45 EUR: Hotel"}
    assert main(["tasks", "list"]) == 0
    tasks = capsys.readouterr().out
    assert "20 EUR: Taxi" in tasks and "45 EUR: Hotel" in tasks
