"""Every HTML answer carries the security headers (no caching, no framing, the CSP), whichever
handler made it: full pages, the live fragment a run page re-fetches, error pages."""

from __future__ import annotations

import pytest

from tests.web.support import TENANT, Stack, approval_flow
from tests.web.test_dashboard import ALICE, sign_in

HTML_HEADERS = ("Cache-Control", "Content-Security-Policy", "X-Frame-Options", "Referrer-Policy")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("page", ["/runs/{run}", "/runs/{run}?fragment=1", "/runs/nope", "/nope"])
async def test_every_html_response_has_the_security_headers(stack: Stack, page: str) -> None:
    await stack.apply(approval_flow(ALICE))
    run = await stack.engine.start_run(TENANT, "purchase", {"item": "desk"}, ALICE)
    async with stack.client() as browser:
        await sign_in(stack, browser)
        async with browser.get(page.format(run=run.run_id)) as r:
            assert r.content_type == "text/html"
            headers = {name: r.headers.get(name) for name in HTML_HEADERS}
            assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in (headers["Content-Security-Policy"] or "")
