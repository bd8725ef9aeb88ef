"""Slack's mrkdwn (what step messages are written in) turned into HTML for pages and emails, and
into plain text for the text part of emails, so `Onboard *Globex Corp*` reads as "Onboard
**Globex Corp**" rather than showing its asterisks.

Only what mrkdwn has: *bold*, _italic_, ~strike~, `code`, ```preformatted```, > quotes,
<https://…|links>, <@U…> mentions, <#C…|channel> and <!here>-style specials; &amp; &lt; &gt;
are Slack's escapes. Everything else is text, escaped for HTML.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from markupsafe import Markup

_TOKEN = re.compile(
    r"```(?P<pre>.+?)```"
    r"|`(?P<code>[^`\n]+)`"
    r"|<(?P<angle>[^<>\n]+)>"
    r"|(?<![\w*])\*(?P<bold>[^*\n]+?)\*(?![\w*])"
    r"|(?<![\w_])_(?P<italic>[^_\n]+?)_(?![\w_])"
    r"|(?<![\w~])~(?P<strike>[^~\n]+?)~(?![\w~])",
    re.DOTALL,
)
_URL = re.compile(r"^(https?://|mailto:)", re.IGNORECASE)
_WRAP = {"bold": "strong", "italic": "em", "strike": "del"}


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _angle(inner: str) -> tuple[str | None, str]:
    """(link target or None, text to show) of a <…> token."""
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        return None, "@" + (label or target[1:])
    if target.startswith("#"):
        return None, "#" + (label or target[1:])
    if target.startswith("!"):
        return None, label or "@" + target[1:].split("^")[0]
    if _URL.match(target):
        return _unescape(target), _unescape(label or target)
    return None, _unescape(f"<{inner}>")  # not Slack syntax: the text as written


def _convert(text: str, token: Callable[[str, str], str], plain: Callable[[str], str]) -> str:
    out: list[str] = []
    end = 0
    for match in _TOKEN.finditer(text):
        out.append(plain(text[end : match.start()]))
        kind = match.lastgroup or ""
        out.append(token(kind, match.group(kind)))
        end = match.end()
    out.append(plain(text[end:]))
    return "".join(out)


def to_html(text: str) -> Markup:
    """The message as HTML (line breaks kept by the page's `white-space: pre-wrap`)."""

    def escape(part: str) -> str:
        return html.escape(_unescape(part), quote=False)

    def token(kind: str, inner: str) -> str:
        if kind == "pre":
            return f"<pre>{escape(inner.strip(chr(10)))}</pre>"
        if kind == "code":
            return f"<code>{escape(inner)}</code>"
        if kind == "angle":
            target, label = _angle(inner)
            if target is None:
                return html.escape(label, quote=False)
            return f'<a href="{html.escape(target)}">{html.escape(label, quote=False)}</a>'
        tag = _WRAP[kind]
        return f"<{tag}>{_convert(inner, token, escape)}</{tag}>"

    lines = _convert(text, token, escape).split("\n")
    quoted = [
        f"<blockquote>{line[5:]}</blockquote>" if line.startswith("&gt; ") else line
        for line in lines
    ]
    return Markup("\n".join(quoted))


def to_text(text: str) -> str:
    """The message as plain text: markers dropped, links as "label (url)", escapes undone."""

    def token(kind: str, inner: str) -> str:
        if kind in ("pre", "code"):
            return _unescape(inner)
        if kind == "angle":
            target, label = _angle(inner)
            return label if target is None or target == label else f"{label} ({target})"
        return _convert(inner, token, _unescape)

    return _convert(text, token, _unescape)
