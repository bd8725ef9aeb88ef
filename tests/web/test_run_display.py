"""The dashboard tells runs of one workflow apart (their summary), renders step titles, leaves
absent values out of the timeline, and lists the runs an email participant took part in."""

from __future__ import annotations

from tests.web.support import TENANT, Stack, approval_flow
from tests.web.test_dashboard import ALICE, sign_in

FLOW = f"""
name: vendor-onboarding
summary: "{{{{ inputs.vendor }}}}, {{{{ inputs.amount }}}} EUR"
inputs:
  - {{id: vendor, type: text, label: Vendor, required: true}}
  - {{id: amount, type: number, label: Amount, required: true}}
  - {{id: note, type: text, label: Note}}
steps:
  - id: legal
    type: approval
    title: "Legal review of {{{{ inputs.vendor }}}}"
    approvers: [{ALICE}]
    fields: [{{id: comment, type: text}}]
"""
VENDORS = [("Globex Corp", 1200), ("Initech", 300), ("Umbrella", 99000)]


async def test_runs_of_one_workflow_are_told_apart_everywhere_on_the_dashboard(
    stack: Stack,
) -> None:
    await stack.apply(FLOW)
    runs = [
        await stack.engine.start_run(
            TENANT, "vendor-onboarding", {"vendor": v, "amount": a}, "U0BOB"
        )
        for v, a in VENDORS
    ]
    await stack.engine.run_until_idle()
    shown = [f"{v}, {a} EUR" for v, a in VENDORS]
    async with stack.client() as browser:
        await sign_in(stack, browser)
        for path in ("/", "/sla", "/runs"):
            async with browser.get(path) as r:
                page = await r.text()
            for summary in shown:
                assert page.count(summary) == 1, (path, summary)
        async with browser.get("/") as r:
            home = await r.text()
        assert "Legal review of Initech" in home and "{{" not in home
        async with browser.get(f"/runs/{runs[0].run_id}") as r:
            page = await r.text()
        assert shown[0] in page and "Your decision on: Legal review of Globex Corp" in page
        assert "{{" not in page.split('<details class="definition">')[0]  # but in the source

        await stack.engine.decide(TENANT, runs[0].run_id, "legal", ALICE, "approve")
        await stack.engine.run_until_idle()
        async with browser.get(f"/runs/{runs[0].run_id}") as r:
            page = await r.text()
        assert "with vendor=&#39;Globex Corp&#39;, amount=1200" in page
        assert f"{ALICE} approved step legal" in page
        assert "None" not in page  # neither note=None nor comment=None


async def test_an_email_approver_who_decided_sees_the_run_in_their_list(stack: Stack) -> None:
    eve = "email:eve@example.com"
    await stack.apply(approval_flow(eve))
    decided = await stack.engine.start_run(TENANT, "purchase", {"item": "lamp"}, "U0BOB")
    await stack.engine.run_until_idle()
    await stack.engine.decide(TENANT, decided.run_id, "manager", eve, "approve", channel="email")
    await stack.engine.apply_definition(TENANT, approval_flow(ALICE))
    other = await stack.engine.start_run(TENANT, "purchase", {"item": "desk"}, "U0BOB")
    await stack.engine.run_until_idle()
    async with stack.client() as browser:
        await sign_in(stack, browser, eve)
        async with browser.get("/runs") as r:
            page = await r.text()
        assert decided.run_id in page and other.run_id not in page
        assert "No runs." not in page
        async with browser.get("/runs?requester=U0BOB") as r:
            assert decided.run_id in await r.text()
