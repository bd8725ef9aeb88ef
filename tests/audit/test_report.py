"""`countersign audit report`: one row per approval step decided in the window, with who asked,
who decided how and when, whether separation of duties held, and the evidence hashes; the same
rows as CSV or as an escaped, printable HTML page. Runs made through the CLI, on SQLite and
PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from cli.main import main
from engine import AUDIT_REPORT_COLUMNS

FLOWS = {
    "access": """\
name: access
steps:
  - id: owners
    type: approval
    approvers: [U0ANN, U0BOB]
""",
    "selfok": """\
name: selfok
steps:
  - id: lead
    type: approval
    approvers: [U0REQ, U0BOB]
    allow_self_approval: true
""",
}


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def start(capsys: pytest.CaptureFixture[str], workflow: str, requester: str) -> str:
    code, out, err = cli(capsys, "--json", "runs", "start", workflow, "--as", requester)
    assert code == 0, err
    return str(json.loads(out)["run_id"])


@pytest.fixture
def runs(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> dict[str, str]:
    """Four runs: approved by a listed approver, self-approved where allowed, closed by the
    requester's own override (separation of duties violated), and one still waiting."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)
    for name, text in FLOWS.items():
        (tmp_path / f"{name}.yaml").write_text(text)
        assert cli(capsys, "workflows", "apply", f"{name}.yaml")[0] == 0
    made = {
        "listed": start(capsys, "access", "U0REQ"),
        "self": start(capsys, "selfok", "U0REQ"),
        "forced": start(capsys, "access", "U0REQ"),
        "waiting": start(capsys, "access", "U0REQ"),
    }
    decide = ("runs", "decide")
    assert cli(capsys, *decide, made["listed"], "owners", "approve", "--as", "U0ANN")[0] == 0
    assert cli(capsys, *decide, made["self"], "lead", "approve", "--as", "U0REQ")[0] == 0
    code, _, err = cli(
        capsys,
        *decide,
        made["forced"],
        "owners",
        "reject",
        "--as",
        "U0REQ",
        "--override",
        "--reason",
        "<b>urgent</b>",
    )
    assert code == 0, err
    assert cli(capsys, "audit", "checkpoint")[0] == 0
    return made


def report(capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    code, out, err = cli(capsys, "audit", "report", "--since", "2000-01-01", *extra)
    assert code == 0, err
    return out


def test_csv_has_one_row_per_decided_step_with_separation_of_duties(
    runs: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    text = report(capsys, "--format", "csv")
    table = list(csv.DictReader(io.StringIO(text)))
    assert text.splitlines()[0].split(",") == list(AUDIT_REPORT_COLUMNS)
    by_run = {row["run_id"]: row for row in table}
    assert set(by_run) == {runs["listed"], runs["self"], runs["forced"]}  # not the waiting one

    listed = by_run[runs["listed"]]
    assert (listed["workflow"], listed["version"], listed["requester"]) == ("access", "1", "U0REQ")
    assert listed["approvers"] == "U0ANN U0BOB"
    assert listed["decisions"].startswith("U0ANN approve at ")
    assert listed["decisions"].endswith(" via cli")
    assert listed["separation_of_duties"] == "held"
    assert listed["outcome"] == "approved"
    assert listed["run_status"] == "completed"
    assert int(listed["seconds_to_decision"]) >= 0
    assert listed["chain_verified"] == "yes"

    assert by_run[runs["self"]]["separation_of_duties"] == "self-approved (allowed)"
    forced = by_run[runs["forced"]]
    assert forced["separation_of_duties"] == "VIOLATED"
    assert forced["decisions"].endswith("(operator override)")
    assert forced["outcome"] == "rejected"


def test_the_evidence_hashes_are_those_the_bundle_verifies(
    runs: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rows = {r["run_id"]: r for r in csv.DictReader(io.StringIO(report(capsys)))}
    path = tmp_path / "b.json"
    code, _, err = cli(capsys, "audit", "export", "--run", runs["listed"], "-o", str(path))
    assert code == 0, err
    events = json.loads(path.read_text())["runs"][0]["events"]
    decision = next(e for e in events if e["event"]["type"] == "decision_recorded")
    assert rows[runs["listed"]]["decision_hash"] == decision["hash"]
    assert rows[runs["listed"]]["run_head_hash"] == events[-1]["hash"]


def test_the_window_is_by_decision_time(
    runs: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    text = report(capsys, "--until", "2000-01-02")
    assert text.splitlines() == [",".join(AUDIT_REPORT_COLUMNS)]
    code, _, err = cli(capsys, "audit", "report", "--since", "2001-01-01", "--until", "2000-01-01")
    assert (code, err) == (1, "error: --until must be after --since\n")


def test_html_is_escaped_and_written_to_the_file(
    runs: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "r.html"
    code, _, err = cli(
        capsys, "audit", "report", "--since", "2000-01-01", "--format", "html", "-o", str(path)
    )
    assert code == 0, err
    assert err == f"wrote 3 step(s) to {path}\n"
    page = path.read_text()
    assert "@media print" in page
    assert page.count('<tr class="violated">') == 1
    assert runs["forced"] in page


def test_html_escapes_what_people_typed(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from cli.audit_report import render
    from engine.audit.report import Decided, ReportRow

    at = datetime(2026, 1, 2, tzinfo=UTC)
    row = ReportRow(
        "r1", "wf", 1, "<script>alert(1)</script>", "s", ("a&b",),
        (Decided("<i>x</i>", "approve", at, "web", False),), "held", at, at,
        "approved", "completed", "0" * 64, "1" * 64, True,
    )  # fmt: skip
    page = render([row], "html", "T", at, at)
    assert "<script>" not in page and "<i>x</i>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "a&amp;b" in page
    assert "&lt;i&gt;x&lt;/i&gt; approve at" in page
