"""CLI inputs no field may hold: a one-line error naming the field, nothing started."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.main import main

EXPENSE = Path(__file__).resolve().parents[2] / "manifests" / "workflows" / "expense-approval.yaml"


@pytest.fixture(autouse=True)
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("SECRETS", '{"ERP_TOKEN": "t"}')  # the bundled expense workflow names it
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_an_input_that_is_not_utf8_is_refused_naming_the_field(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["workflows", "apply", str(EXPENSE)]) == 0
    # A byte that is not UTF-8 on the command line reaches Python as a lone surrogate.
    description = b"Taxi \xff".decode("utf-8", "surrogateescape")
    inputs = ["-i", "amount=20", "-i", f"description={description}", "-i", "manager=U0MANAGER"]
    capsys.readouterr()
    assert main(["runs", "start", "expense-approval", *inputs]) == 1
    err = capsys.readouterr().err
    assert "description" in err and "surrogate" in err
    assert "Traceback" not in err
    assert main(["--json", "runs", "list"]) == 0
    assert json.loads(capsys.readouterr().out) == []
