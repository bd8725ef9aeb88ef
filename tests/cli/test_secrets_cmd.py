"""`countersign secrets ...` on a SQLite file: values go in from stdin, a hidden prompt or an
environment variable, are stored encrypted, and are never printed back."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pytest

from cli.main import main

ROOT = Path(__file__).resolve().parents[2]
EXPENSE = ROOT / "manifests" / "workflows" / "expense-approval.yaml"
TOKEN = "erp-0f9e8d7c6b5a"


@pytest.fixture(autouse=True)
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("SECRET_KEY", "cli-test-secret-key-0123456789abcdef")
    monkeypatch.delenv("SECRETS", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "cli.db"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def out(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    return captured.out + captured.err


def test_set_list_delete_and_apply(
    database: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The bundled expense workflow names ERP_TOKEN: refused until the workspace has it.
    assert main(["workflows", "apply", str(EXPENSE)]) == 1
    assert "unknown secret 'ERP_TOKEN'" in out(capsys)

    monkeypatch.setattr("sys.stdin", io.StringIO(TOKEN + "\n"))  # piped, as `printf ... |`
    assert main(["secrets", "set", "ERP_TOKEN"]) == 0
    assert out(capsys) == "set ERP_TOKEN for local\n"
    monkeypatch.setenv("IAM_SOURCE", "iam-value-123")
    assert main(["secrets", "set", "IAM_TOKEN", "--from-env", "IAM_SOURCE", "--tenant", "T2"]) == 0
    monkeypatch.setattr("sys.stdin", Terminal())
    monkeypatch.setattr("getpass.getpass", lambda prompt: "typed-value-456")
    assert main(["secrets", "set", "SPARE"]) == 0
    capsys.readouterr()

    assert main(["secrets", "list"]) == 0
    listing = out(capsys)
    assert "ERP_TOKEN" in listing and "SPARE" in listing and "IAM_TOKEN" not in listing
    assert TOKEN not in listing and "typed-value" not in listing
    assert main(["--json", "secrets", "list", "--tenant", "T2"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["name"] == "IAM_TOKEN" and row["source"] == "stored" and "value" not in row

    with sqlite3.connect(database) as db:  # encrypted at rest
        stored = db.execute("SELECT tenant_id, name, sealed FROM tenant_secrets").fetchall()
    assert {(t, n) for t, n, _ in stored} == {
        ("local", "ERP_TOKEN"),
        ("local", "SPARE"),
        ("T2", "IAM_TOKEN"),
    }
    for _, _, sealed in stored:
        assert TOKEN.encode() not in sealed and b"value" not in sealed

    assert main(["workflows", "apply", str(EXPENSE)]) == 0
    assert main(["secrets", "delete", "SPARE"]) == 0
    assert "deleted SPARE of local" in out(capsys)
    assert main(["secrets", "delete", "SPARE"]) == 1
    assert "error: local has no secret 'SPARE'" in out(capsys)


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (["secrets", "set", "erp-token"], "x", "'erp-token' is not a secret name"),
        (["secrets", "set", "EMPTY"], "\n", "value: the value is empty"),
        (
            ["secrets", "set", "X", "--from-env", "NOT_SET_ANYWHERE"],
            "",
            "NOT_SET_ANYWHERE is not set",
        ),
    ],
)
def test_bad_input_is_one_line_and_stores_nothing(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    stdin: str,
    message: str,
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    assert main(argv) == 1
    said = out(capsys)
    assert said.startswith("error: ") and message in said and "Traceback" not in said
    assert main(["--json", "secrets", "list"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_secrets_from_the_settings_are_listed_but_not_deletable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SECRETS", json.dumps({"ERP_TOKEN": TOKEN}))
    monkeypatch.setenv("TENANT_SECRETS", json.dumps({"T2": {"OTHER": "o"}}))
    assert main(["--json", "secrets", "list"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"name": "ERP_TOKEN", "updated_at": None, "source": "settings"}
    ]
    assert main(["workflows", "apply", str(EXPENSE)]) == 0  # SECRETS are the TENANT's
    assert main(["workflows", "apply", str(EXPENSE), "--tenant", "T2"]) == 1  # not T2's
    capsys.readouterr()
    assert main(["secrets", "delete", "ERP_TOKEN"]) == 1
    assert "comes from the settings" in out(capsys)


def test_a_bad_name_in_the_settings_is_one_line_without_values(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TENANT_SECRETS", json.dumps({"T2": {"erp-token": TOKEN}}))
    assert main(["secrets", "list", "--tenant", "T2"]) == 1
    said = out(capsys)
    assert said == (
        "error: the settings give T2 a secret 'erp-token', which is not a secret name: "
        "use letters, digits and _, not starting with a digit\n"
    )
