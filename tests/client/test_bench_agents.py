"""`python -m bench.agents` keeps working: a served process, five agents waiting through the
client, five decisions through the REST API, on SQLite (no timings asserted)."""

from __future__ import annotations

import pytest

from bench import agents


async def test_five_agents_wait_and_get_their_answers() -> None:
    figures = await agents.measure("sqlite", 5)
    assert figures.approved == 5  # every agent's wait() returned `approved`
    assert len(figures.latencies) == len(figures.decide) == 5
    assert figures.rss_idle > 0 and figures.rss_waiting > 0
    # The paced scenario: five more agents, a decision every PACE_MS ms.
    assert figures.paced_approved == 5
    assert len(figures.paced) == len(figures.paced_decide) == 5


def test_memory_per_waiting_request_is_the_rss_growth_over_n(
    capsys: pytest.CaptureFixture[str],
) -> None:
    figures = agents.Figures(
        agents=2,
        latencies=[0.01, 0.02],
        decide=[0.005, 0.006],
        rss_idle=100 << 20,
        rss_pending=101 << 20,
        rss_waiting=102 << 20,
        approved=2,
    )
    agents.report("postgres", figures)
    lines = capsys.readouterr().out.splitlines()
    (per,) = [line for line in lines if "memory per waiting request" in line]
    assert "1024.0 KiB" in per  # (102 - 100) MiB / 2
    (p99,) = [line for line in lines if "returns p99" in line and "paced" not in line]
    assert p99.rstrip().endswith("ok")  # under the 100 ms
    assert not any("paced" in line for line in lines)  # no paced figures, no paced section
