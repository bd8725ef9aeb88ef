"""Renders one email (HTML + plain text) from the Jinja2 templates next to this module."""

from __future__ import annotations

import hashlib
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any

import jinja2

from engine import agent_request
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
ARGUMENTS_SHOWN = 10_000  # characters of an agent's arguments in a mail; the form page has all


def _cut(text: str) -> str:
    if len(text) <= ARGUMENTS_SHOWN:
        return text
    return text[:ARGUMENTS_SHOWN] + "\n… (cut: the decision page shows the full arguments)"


for _env in (_html, _text):
    _env.globals["agent_of"] = agent_request  # an agent's request: tool, arguments, digest, key
    _env.filters["cut_arguments"] = _cut


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
