"""`serve` as wired from the default settings (no Slack, no SMTP, no secrets, the default
outbound policy): every bundled workflow applies, saying what it needs, and the quickstart runs
to completion, its http step reaching the app's own demo endpoint."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from cli.serve import apply_bundled
from cli.settings import Settings
from cli.wiring import build, shutdown

WORKFLOWS = Path(__file__).resolve().parents[2] / "manifests" / "workflows"


@pytest.mark.asyncio
async def test_the_quickstart_completes_as_serve_wires_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'quick.db'}",
        secret_key="k" * 32,
        outbox_mail_dir=tmp_path / "mail",
        http_port=0,
    )
    parts = await build(settings)
    try:
        with caplog.at_level(logging.INFO, logger="countersign"):
            await apply_bundled(parts, parts.tenant, WORKFLOWS)
        assert "workflow quickstart (quickstart.yaml): version 1 created\n" in caplog.text + "\n"
        assert "deploy-approval.yaml): version 1 created; needs Slack (S0ONCALL01" in caplog.text
        assert (
            "workflow expense-approval.yaml not applied: it needs the secret ERP_TOKEN; set it "
            "with `countersign secrets set NAME --tenant local`, then start again" in caplog.text
        )
        engine = parts.engine
        run = await engine.start_run(parts.tenant, "quickstart", {}, "you@example.com")
        await engine.run_until_idle()
        await engine.decide(parts.tenant, run.run_id, "approve", "YOU@example.com", "approve")
        await engine.run_until_idle()
        done = await engine.get_run(parts.tenant, run.run_id)
        assert done.status == "completed", done.steps["book"].error
        assert done.steps["book"].output["response"]["received"]["approved_by"] == (
            "email:you@example.com"
        )
        told = [p.read_text() for p in (tmp_path / "mail").glob("*.eml")]
        assert any("booked as echo-" in mail for mail in told)
    finally:
        await shutdown(parts)
