"""The bundled workflows from the CLI: which ones need Slack or secrets is said when they are
applied and listed; the quickstart runs with nothing else, people named by address."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.main import main
from tests.cli.test_cli import ROOT, database  # noqa: F401 - the autouse SQLite file

BUNDLED = sorted((ROOT / "manifests" / "workflows").glob("*.yaml"))


def test_what_a_bundled_workflow_needs_is_said_when_applied_and_listed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRETS", '{"ERP_TOKEN": "t", "IAM_TOKEN": "t"}')
    assert main(["workflows", "apply", *map(str, BUNDLED)]) == 0
    applied = {Path(line.split(":")[0]).name: line for line in capsys.readouterr().out.splitlines()}
    assert applied["expense-approval.yaml"].endswith(
        "created version 1; needs Slack (S0FINANCE1), secret ERP_TOKEN"
    )
    assert applied["deploy-approval.yaml"].endswith("; needs Slack (S0ONCALL01, #deploys)")
    assert applied["access-request.yaml"].endswith(
        "; needs Slack (U0OWNER001, U0OWNER002, U0OWNER003 and 2 more), secret IAM_TOKEN"
    )
    assert applied["quickstart.yaml"].endswith("quickstart created version 1")
    assert main(["workflows", "list"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows["quickstart"].rstrip().endswith("-")
    assert rows["expense-approval"].rstrip().endswith("Slack (S0FINANCE1), secret ERP_TOKEN")


def test_cli_as_takes_an_address_however_written(capsys: pytest.CaptureFixture[str]) -> None:
    quickstart = ROOT / "manifests" / "workflows" / "quickstart.yaml"
    assert main(["workflows", "apply", str(quickstart)]) == 0
    argv = ["runs", "start", "quickstart", "--as", "Newcomer@Example.com"]
    assert main(["--json", *argv, "-i", "approver=email:bob@example.com"]) == 0
    capsys.readouterr()
    assert main(["--json", "runs", "list"]) == 0
    [run] = json.loads(capsys.readouterr().out)
    assert run["requester"] == "email:newcomer@example.com"
    # Nothing serves here to look the approvers up, so an override stands in for the vote.
    decide = ["runs", "decide", run["run_id"], "approve", "approve", "--as", "BOB@example.com"]
    decide += ["--override", "--reason", "testing"]
    assert main(["--json", *decide]) == 0
    capsys.readouterr()
    assert main(["--json", "runs", "show", run["run_id"]]) == 0
    shown = json.loads(capsys.readouterr().out)
    decided = [e["text"] for e in shown["timeline"] if e["type"] == "decision_recorded"]
    assert decided[0].startswith("email:bob@example.com approved step approve via cli")


def test_a_bundled_workflow_whose_secret_is_not_set_is_refused_naming_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRETS", "{}")
    access = ROOT / "manifests" / "workflows" / "access-request.yaml"
    assert main(["workflows", "apply", str(access)]) == 1
    err = capsys.readouterr().err
    assert "unknown secret 'IAM_TOKEN'" in err
    assert "countersign secrets set IAM_TOKEN" in err
