"""`countersign schedules list`: what an operator reads about scheduled workflows."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cli.main import main
from tests.schedules.conftest import workflow


@pytest.fixture(autouse=True)
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_schedules_list_shows_next_fire_in_utc_and_local_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["schedules", "list"]) == 0
    assert "(none)" in capsys.readouterr().out

    daily = tmp_path / "daily.yaml"
    daily.write_text(
        workflow('cron: "0 9 * * *"\ntimezone: Europe/Berlin\ninputs: {region: emea}', "daily")
    )
    hourly = tmp_path / "hourly.yaml"
    hourly.write_text(workflow("every: 1h\nmisfire: skip\ninputs: {region: x}", "hourly"))
    assert main(["workflows", "apply", str(daily), str(hourly)]) == 0
    assert main(["workflows", "disable", "hourly"]) == 0
    capsys.readouterr()

    assert main(["schedules", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["WORKFLOW", "VERSION", "SCHEDULE", "MISFIRE", "NEXT", "FIRE"]
    assert lines[1].startswith("daily") and "cron 0 9 * * * (Europe/Berlin)" in lines[1]
    assert "09:00:00 Europe/Berlin)" in lines[1] and "run_once" in lines[1]
    assert lines[2].startswith("hourly") and lines[2].endswith("disabled")

    assert main(["schedules", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [s["workflow"] for s in listed] == ["daily", "hourly"]
    first = listed[0]
    assert (first["kind"], first["expression"], first["timezone"]) == (
        "cron",
        "0 9 * * *",
        "Europe/Berlin",
    )
    assert datetime.fromisoformat(first["next_fire"]) > datetime.now(UTC)
    assert datetime.fromisoformat(first["next_fire_local"]).strftime("%H:%M") == "09:00"
    assert listed[1]["disabled"] is True and listed[1]["next_fire"] is None


def test_schedules_list_is_per_workspace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    daily = tmp_path / "daily.yaml"
    daily.write_text(workflow('cron: "0 9 * * *"\ninputs: {region: emea}', "daily"))
    assert main(["workflows", "apply", str(daily), "--tenant", "T_OTHER"]) == 0
    capsys.readouterr()
    assert main(["--json", "schedules", "list"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["--json", "schedules", "list", "--tenant", "T_OTHER"]) == 0
    assert [s["workflow"] for s in json.loads(capsys.readouterr().out)] == ["daily"]
