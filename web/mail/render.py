"""Renders one email (HTML + plain text) from the Jinja2 templates next to this module."""

from __future__ import annotations

import hashlib
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any

import jinja2

from web import mrkdwn

_TEMPLATES = Path(__file__).parent / "templates"

_html = jinja2.Environment(
    loader=jinja2.FileSystemLoader(_TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
_text = jinja2.Environment(
    loader=jinja2.FileSystemLoader(_TEMPLATES),
    autoescape=False,
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)
_html.filters["mrkdwn"] = mrkdwn.to_html
_text.filters["mrkdwn"] = mrkdwn.to_text


def render_mail(
    template: str,
    *,
    to: str,
    sender: str,
    subject: str,
    key: str,
    context: dict[str, Any],
) -> EmailMessage:
    """A multipart/alternative message from `<template>.txt` and `<template>.html`. The
    Message-ID derives from the command key, so a re-sent mail is recognisably the same one."""
    subject = " ".join(subject.split())  # a line break in a title must not break the header
    values = {**context, "subject": subject}
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = f"<{hashlib.sha256(f'{key}/{to}'.encode()).hexdigest()[:32]}@countersign>"
    msg["X-Countersign-Key"] = key
    msg.set_content(_text.get_template(f"{template}.txt").render(values))
    msg.add_alternative(_html.get_template(f"{template}.html").render(values), subtype="html")
    return msg
