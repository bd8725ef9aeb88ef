"""The Slack app running against the fake Slack, with a few workflows applied.

Every test using `slack` ends by checking that every envelope was acked within 3 seconds on the
fake's clock (in `running_app`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakeslack import FakeSlack
from tests.slack.harness import TEAM, SlackHarness, fake_slack, running_app

PURCHASE = """
name: purchase
title: Purchase
inputs:
  - {id: item, type: text, required: true, label: Item}
  - {id: amount, type: number, required: true, min: 1}
steps:
  - id: managers
    title: Managers approve
    type: approval
    approvers: [UBOB, UCAT, UDAN]
    policy: {n: 2}
"""

ACCESS = """
name: access
inputs:
  - {id: system, type: text, required: true}
steps:
  - id: owner
    type: approval
    approvers: [UBOB]
    fields:
      - {id: reason, type: multiline, label: Reason, required_on: reject}
"""


DEPLOY = """
name: deploy
title: Deploy
steps:
  - id: ticket
    title: Change ticket
    type: input
    assignee: UBOB
    message: "Which ticket covers {{ requester }}'s deploy?"
    fields:
      - {id: ticket, type: text, required: true, label: Ticket}
      - {id: risky, type: checkbox, hint: Needs a rollback plan}
  - id: tell
    type: notify
    to: requester
    message: "Deploy approved under {{ steps.ticket.values.ticket }}"
"""

ROOM = """
name: room
steps:
  - id: lead
    type: approval
    channel: C0ROOM
    approvers: [UBOB]
"""


@pytest.fixture
async def slack(tmp_path: Path) -> AsyncIterator[SlackHarness]:
    async with running_app(tmp_path) as harness:
        for text in (PURCHASE, ACCESS, DEPLOY, ROOM):
            await harness.engine.apply_definition(TEAM, text)
        yield harness


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    """The fake Slack alone, for tests that start the app themselves (or run app.py)."""
    fake = fake_slack()
    await fake.start()
    yield fake
    await fake.stop()
