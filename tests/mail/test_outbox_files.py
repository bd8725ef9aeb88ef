"""Without SMTP_URL, mails are written as .eml files a newcomer can open and click through."""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path

from engine.testing import ManualClock
from storage import Storage
from tests.web.support import TENANT, approval_flow, web_stack


async def test_without_smtp_the_mail_is_an_eml_file_with_working_links(
    storage: Storage, clock: ManualClock, tmp_path: Path
) -> None:
    async with web_stack(storage, clock, tmp_path) as stack:
        await stack.apply(approval_flow("email:carol@example.com"))
        await stack.engine.start_run(TENANT, "purchase", {"item": "chair"}, "U0REQ")
        await stack.engine.run_until_idle()
        files = list(stack.outbox_dir.glob("*.eml"))
        assert len(files) == 1
        mail = message_from_bytes(files[0].read_bytes(), policy=policy.default)
        assert mail["To"] == "carol@example.com"
        text = mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
        form_url = next(line.split()[-1] for line in text.splitlines() if line.startswith("Form:"))
        async with stack.client() as browser, browser.get(stack.path(form_url)) as r:
            assert r.status == 200
            assert "chair" in await r.text()
