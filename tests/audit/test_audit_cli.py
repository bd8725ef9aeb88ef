"""`countersign audit` refuses bad input in one line, without a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.main import main


@pytest.fixture(autouse=True)
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.chdir(tmp_path)


def test_bad_audit_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "verify", str(tmp_path / "missing.json")]) == 1
    assert capsys.readouterr().err.startswith(f"error: cannot read {tmp_path / 'missing.json'}")
    (tmp_path / "b.json").write_text('{"format": "x"}')
    assert main(["audit", "verify", str(tmp_path / "b.json"), "--public-key", "nope"]) == 1
    assert "not an audit bundle" in capsys.readouterr().err
    assert main(["audit", "export", "--run", "nope", "-o", str(tmp_path / "o.json")]) == 1
    assert capsys.readouterr().err == "error: no run nope in local\n"
    assert not (tmp_path / "o.json").exists()
    with pytest.raises(SystemExit):
        main(["audit", "export", "--since", "yesterday", "-o", "o.json"])
    assert "'yesterday' is not an ISO 8601 date" in capsys.readouterr().err


def test_the_public_key_is_made_once_and_printed_the_same(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "public-key"]) == 0
    first = capsys.readouterr().out
    assert main(["audit", "public-key"]) == 0
    assert capsys.readouterr().out == first
    assert (tmp_path / ".countersign-audit.key").stat().st_mode & 0o077 == 0
