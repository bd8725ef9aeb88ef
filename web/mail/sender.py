"""Delivers rendered emails: to the SMTP server of `SMTP_URL`, or, with none configured, to
`.eml` files in the outbox folder (and the log), so a newcomer can still open the links."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import unquote, urlsplit

import aiosmtplib

log = logging.getLogger("countersign.mail")


class MailUnavailable(Exception):
    """The mail could not be handed over; try again later."""


class SmtpSender:
    def __init__(self, smtp_url: str, timeout: float = 30.0) -> None:
        url = urlsplit(smtp_url)
        if url.scheme not in ("smtp", "smtps") or not url.hostname:
            raise ValueError(
                f"SMTP_URL must look like smtp://user:password@host:port (or smtps://), "
                f"got {smtp_url!r}"
            )
        self._implicit_tls = url.scheme == "smtps"
        self._host = url.hostname
        self._port = url.port or (465 if self._implicit_tls else 25)
        self._user = unquote(url.username) if url.username else None
        self._password = unquote(url.password) if url.password else None
        self._timeout = timeout

    def describe(self) -> str:
        return f"SMTP {self._host}:{self._port}"

    async def send(self, message: EmailMessage) -> None:
        try:
            await aiosmtplib.send(
                message,
                hostname=self._host,
                port=self._port,
                username=self._user,
                password=self._password,
                use_tls=self._implicit_tls,
                timeout=self._timeout,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise MailUnavailable(f"{self.describe()}: {exc}") from exc


class FileSender:
    """Writes each mail as `<folder>/<message id hash>.eml`: re-sending overwrites, never
    duplicates."""

    def __init__(self, folder: str | Path) -> None:
        self._folder = Path(folder)

    def describe(self) -> str:
        return f"files in {self._folder}/ (no SMTP_URL set)"

    async def send(self, message: EmailMessage) -> None:
        name = hashlib.sha256(str(message["Message-ID"]).encode()).hexdigest()[:16] + ".eml"
        path = self._folder / name
        try:
            await asyncio.to_thread(self._write, path, message.as_bytes())
        except OSError as exc:
            raise MailUnavailable(f"cannot write {path}: {exc}") from exc
        text = message.get_body(preferencelist=("plain",))
        log.info(
            "mail to %s: %s (saved to %s)\n%s",
            message["To"],
            message["Subject"],
            path,
            text.get_content() if text is not None else "",
        )

    def _write(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)


MailSender = SmtpSender | FileSender


def mail_sender(smtp_url: str | None, outbox_dir: str | Path) -> MailSender:
    return SmtpSender(smtp_url) if smtp_url else FileSender(outbox_dir)
