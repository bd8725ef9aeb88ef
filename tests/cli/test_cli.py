"""The operator CLI end to end on a SQLite file: what an operator types and reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.main import main

ROOT = Path(__file__).resolve().parents[2]
EXPENSE = ROOT / "manifests" / "workflows" / "expense-approval.yaml"


@pytest.fixture(autouse=True)
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("SECRETS", '{"ERP_TOKEN": "t"}')  # the bundled expense workflow names it
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    assert main(["--json", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_validate_names_file_line_and_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsteps:\n  - id: a\n    type: wait\n    duration: 2 dayz\n")
    assert main(["workflows", "validate", str(EXPENSE), str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{EXPENSE}: ok" in out
    assert f"{bad}:5: steps.0.duration:" in out and "dayz" in out


def test_apply_versions_show_diff_disable(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    applied = run_json(capsys, "workflows", "apply", str(EXPENSE))
    assert applied == [
        {"file": str(EXPENSE), "name": "expense-approval", "version": 1, "created": True}
    ]
    again = run_json(capsys, "workflows", "apply", str(EXPENSE))
    assert again[0]["created"] is False and again[0]["version"] == 1  # type: ignore[index]

    changed = tmp_path / "expense.yaml"
    changed.write_text(EXPENSE.read_text().replace("title: Expense approval", "title: Expenses"))
    assert main(["workflows", "apply", str(changed)]) == 0
    assert "created version 2" in capsys.readouterr().out

    assert main(["workflows", "diff", "expense-approval"]) == 0
    diff = capsys.readouterr().out
    assert "-title: Expense approval" in diff and "+title: Expenses" in diff

    shown = run_json(capsys, "workflows", "show", "expense-approval", "--version", "1")
    assert shown["version"] == 1 and shown["definition"]["title"] == "Expense approval"  # type: ignore[index]

    assert main(["workflows", "disable", "expense-approval"]) == 0
    capsys.readouterr()
    assert main(["runs", "start", "expense-approval", "-i", "amount=5"]) == 1
    assert "disabled" in capsys.readouterr().err
    listed = run_json(capsys, "workflows", "list")
    needs = {"slack": ["S0FINANCE1"], "secrets": ["ERP_TOKEN"]}
    assert listed == [{"name": "expense-approval", "version": 2, "disabled": True, "needs": needs}]


def test_runs_start_decide_show_and_cancel(capsys: pytest.CaptureFixture[str]):
    assert main(["workflows", "apply", str(EXPENSE)]) == 0
    capsys.readouterr()
    inputs = ["-i", "amount=20", "-i", "description=Taxi", "-i", "manager=U0MANAGER"]
    started = run_json(capsys, "runs", "start", "expense-approval", *inputs, "--as", "U0ALICE")
    run_id = started["run_id"]  # type: ignore[index]
    assert started["current_step"] == "manager"  # type: ignore[index]

    # A bad input names the field and changes nothing.
    assert main(["runs", "start", "expense-approval", "-i", "amount=lots"]) == 1
    assert "amount" in capsys.readouterr().err
    assert len(run_json(capsys, "runs", "list")) == 1  # type: ignore[arg-type]

    decided = run_json(capsys, "runs", "decide", run_id, "manager", "approve", "--as", "U0MANAGER")
    assert decided["current_step"] == "book"  # type: ignore[index]
    assert main(["runs", "show", run_id]) == 0
    timeline = capsys.readouterr().out
    assert "U0MANAGER approved step manager via cli\n" in timeline
    assert "step finance skipped" in timeline

    # Deciding a finished step says so.
    assert main(["runs", "decide", run_id, "manager", "reject", "--as", "U0MANAGER"]) == 1
    assert "manager" in capsys.readouterr().err

    assert main(["runs", "cancel", run_id, "--reason", "wrong cost centre"]) == 0
    capsys.readouterr()
    shown = run_json(capsys, "runs", "show", run_id)
    assert any("wrong cost centre" in e["text"] for e in shown["timeline"])  # type: ignore[index]


def test_unknown_run_and_schema(capsys: pytest.CaptureFixture[str]):
    assert main(["runs", "show", "r-nope"]) == 1
    assert "error:" in capsys.readouterr().err
    schema = run_json(capsys, "schema")
    assert schema["title"] == "Countersign workflow"  # type: ignore[index]


def test_api_keys_shown_once_and_revoked(capsys: pytest.CaptureFixture[str]):
    created = run_json(capsys, "apikeys", "create", "ci")
    assert created["secret"].startswith("cs_")  # type: ignore[index]
    listed = run_json(capsys, "apikeys", "list")
    assert "secret" not in listed[0]  # type: ignore[index]
    assert main(["apikeys", "revoke", created["id"]]) == 0  # type: ignore[index]
    capsys.readouterr()
    assert run_json(capsys, "apikeys", "list")[0]["revoked_at"] is not None  # type: ignore[index]
