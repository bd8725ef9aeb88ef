"""An operator's mistake gets one line that says what is wrong and what to change, and a
non-zero exit — never a traceback: settings that do not parse, a database that cannot be
reached or was migrated by a newer version, a port in use, a missing file or folder."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.main import main
from cli.settings import Settings


@pytest.fixture(autouse=True)
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "ADMINS", "PUBLIC_URL", "HTTP_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """The one line a refused command prints."""
    assert main(list(argv)) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    return lines[0].removeprefix("error: ")


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("HTTP_PORT", "abc", "HTTP_PORT: Input should be a valid integer"),
        ("ADMINS", '["U0ANN",', "ADMINS: not a JSON list"),
        ("SECRETS", "{oops", "SECRETS is not valid JSON"),
        ("PUBLIC_URL", "example.com", "PUBLIC_URL 'example.com' must start with http://"),
        ("WORKING_HOURS", "9 to 5", "WORKING_HOURS/WORKING_DAYS/DEFAULT_TIME_ZONE:"),
        ("HTTP_PORT", "70000", "HTTP_PORT: Input should be less than or equal to 65535"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL: not a log level; use one of DEBUG, INFO"),
        ("REDIS_URL", "localhost:6379", "REDIS_URL: must start with redis:// or rediss://"),
        ("SMTP_URL", "mail:hunter2@x", "SMTP_URL: must start with smtp:// or smtps://"),
        ("SECRET_KEY", "hunter2", "SECRET_KEY: must be at least 16 characters"),
    ],
)
def test_a_setting_that_does_not_parse_is_named(
    name: str,
    value: str,
    said: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(name, value)
    line = refused(capsys, "runs", "list")
    assert said in line
    assert "hunter2" not in line  # settings that may hold passwords are not echoed


def test_list_settings_take_json_or_comma_separated_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OUTBOUND_ALLOWED_HOSTS", "127.0.0.1")
    assert Settings().outbound_allowed_hosts == ["127.0.0.1"]
    monkeypatch.setenv("OUTBOUND_ALLOWED_HOSTS", " api.example.com, 10.0.0.0/8 ,")
    assert Settings().outbound_allowed_hosts == ["api.example.com", "10.0.0.0/8"]
    monkeypatch.setenv("ADMINS", '["U0ANN", "U0BOB"]')
    assert Settings().admins == ["U0ANN", "U0BOB"]
    monkeypatch.setenv("ADMINS", "")
    assert Settings().admins == []


def test_public_url_follows_host_and_port_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().public_url == "http://localhost:8080"
    monkeypatch.setenv("HTTP_PORT", "8090")
    assert Settings().public_url == "http://localhost:8090"
    monkeypatch.setenv("HTTP_HOST", "0.0.0.0")
    assert Settings().public_url == "http://localhost:8090"
    monkeypatch.setenv("HTTP_HOST", "10.1.2.3")
    assert Settings().public_url == "http://10.1.2.3:8090"
    monkeypatch.setenv("PUBLIC_URL", "https://approvals.example.com")
    assert Settings().public_url == "https://approvals.example.com"


@pytest.mark.parametrize(
    ("url", "said"),
    [
        (
            "postgresql+asyncpg://someone@127.0.0.1:1/db",
            "cannot reach postgresql at 127.0.0.1:1/db: connection refused; is the database "
            "running? (check DATABASE_URL)",
        ),
        (
            "postgresql+asyncpg://nobody_here:secret@127.0.0.1:5432/test",
            'cannot open postgresql at 127.0.0.1:5432/test: role "nobody_here" does not exist',
        ),
        ("mysql://x@localhost/db", "DATABASE_URL 'mysql://x@localhost/db' is not supported"),
        ("sqlite+aiosqlite:////proc/none/x.db", "cannot open the SQLite file /proc/none/x.db"),
    ],
)
def test_a_database_that_cannot_be_opened_is_named(
    url: str, said: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    line = refused(capsys, "runs", "list")
    assert said in line
    assert "secret" not in line


def test_a_database_migrated_by_a_newer_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "upgrade"]) == 0
    with sqlite3.connect(tmp_path / "cli.db") as db:
        db.execute("UPDATE alembic_version SET version_num = '0999'")
    line = refused(capsys, "runs", "list")
    assert "was migrated by a newer Countersign" in line and "0999" in line


def test_missing_files_and_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert refused(capsys, "workflows", "apply", "nope.yaml") == (
        "nope.yaml: No such file or directory"
    )
    monkeypatch.setenv("WORKFLOWS_DIR", str(tmp_path / "flows"))
    assert refused(capsys, "serve") == (
        f"WORKFLOWS_DIR {tmp_path / 'flows'} does not exist; point it at the folder of "
        "workflow files (or unset it for manifests/workflows)"
    )


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def test_port_in_use(
    taken_port: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HTTP_PORT", str(taken_port))
    monkeypatch.setenv("WORKFLOWS_DIR", str(Path(__file__).parent))  # no workflows: quick
    assert refused(capsys, "serve") == (
        f"cannot listen on 127.0.0.1:{taken_port}: the port is in use (another Countersign?); "
        "stop the other process or set HTTP_PORT to a free port"
    )
