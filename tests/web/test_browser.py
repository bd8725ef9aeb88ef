"""The dashboard in headless Chromium: sign in through a one-time link, open a run, decide
through the form, and watch the timeline update live (SSE) without reloading."""

from __future__ import annotations

from playwright.async_api import Browser

from tests.web.support import TENANT, Stack, approval_flow

ALICE = "U0ALICE"


async def test_sign_in_decide_and_watch_the_timeline_update_live(
    stack: Stack, browser: Browser
) -> None:
    await stack.apply(approval_flow(ALICE))
    run = await stack.engine.start_run(TENANT, "purchase", {"item": "standing desk"}, "U0BOB")
    await stack.engine.run_until_idle()

    context = await browser.new_context(viewport={"width": 390, "height": 844})  # a phone
    page = await context.new_page()
    page.set_default_timeout(10_000)
    await page.goto(stack.web.url + stack.path(stack.web.sign_in_url(TENANT, ALICE)))
    await page.get_by_role("button", name="Continue").click()
    await page.wait_for_url(stack.web.url + "/")
    await page.get_by_role("link", name="purchase").click()
    await page.wait_for_url(f"**/runs/{run.run_id}*")
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    await page.get_by_role("button", name="Approve").click()
    await page.wait_for_selector("#timeline >> text=approved step manager via web")
    await page.wait_for_selector("#live[data-connected='1']")  # the live stream is open
    await page.evaluate("window.__sameDocument = true")

    # The run moves on in the background (its notify step); the open page follows by itself.
    await stack.engine.run_until_idle()
    await page.wait_for_selector("#timeline >> text=run completed")
    assert await page.text_content("#run-status") == "completed"
    assert await page.evaluate("window.__sameDocument === true")  # updated, not reloaded
    await context.close()
