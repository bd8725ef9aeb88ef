"""In headless Chromium: an approver reads a step's SLA clock, delegates it through the form,
and the SLA page shows the task now waiting on the delegate."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.async_api import Browser

from tests.web.support import TENANT, Stack

BOB = "U0BOB"
TIMED = """
name: timed
title: Timed approval
steps:
  - id: manager
    type: approval
    approvers: ["U0BOB"]
    remind_every: 2h
    timeout: 1d
    on_timeout: reject
"""


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_read_the_clock_delegate_and_see_the_sla_page(stack: Stack, browser: Browser) -> None:
    await stack.apply(TIMED)
    run = await stack.engine.start_run(TENANT, "timed", {}, "U0REQ")
    await stack.engine.run_until_idle()
    stack.clock.advance(timedelta(minutes=45))

    context = await browser.new_context(viewport={"width": 390, "height": 844})  # a phone
    page = await context.new_page()
    page.set_default_timeout(10_000)
    await page.goto(stack.web.url + stack.path(stack.web.sign_in_url(TENANT, BOB)))
    await page.get_by_role("button", name="Continue").click()
    await page.wait_for_url(stack.web.url + "/")
    await page.get_by_role("link", name="timed").click()
    await page.wait_for_url(f"**/runs/{run.run_id}*")
    await page.wait_for_selector("#act-manager >> text=Waiting for 45m")
    await page.wait_for_selector("#act-manager >> text=Times out in 23h15m")

    await page.get_by_text("Delegate…").click()
    await page.get_by_label("Hand it to").fill("carol@example.com")
    await page.get_by_role("button", name="Delegate", exact=True).click()
    await page.wait_for_selector("#timeline >> text=email:carol@example.com")
    assert await page.locator("#act-manager").count() == 0  # no longer Bob's to decide
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    await page.get_by_role("link", name="SLA").click()
    row = page.locator(f'tr[data-run="{run.run_id}"]')
    await row.wait_for()
    text = await row.inner_text()
    assert "45m" in text and "email:carol@example.com" in text
    await context.close()
