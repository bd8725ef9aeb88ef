"""What a page or an email showed a person, as text for the audit record (engine.shown): the
visible text of HTML (no markup, scripts, form values or link targets), and mail bodies with
their signed links replaced by what they are, since a link's token must never be recorded."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from html import escape
from html.parser import HTMLParser

Keep = Callable[[str, dict[str, str]], bool]
SKIPPED = {"script", "style", "textarea", "template", "head", "title"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


class _Text(HTMLParser):
    def __init__(self, keep: Keep) -> None:
        super().__init__(convert_charrefs=True)
        self._keep = keep
        self._stack: list[tuple[str, bool, bool]] = []  # (tag, kept, skipped)
        self.lines: list[str] = []

    def _inside(self) -> tuple[bool, bool]:
        kept = any(k for _, k, _ in self._stack)
        skipped = any(s for _, _, s in self._stack)
        return kept, skipped

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID:
            return
        values = {k: v or "" for k, v in attrs}
        self._stack.append((tag, self._keep(tag, values), tag in SKIPPED))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i][0] == tag:
                del self._stack[i:]
                return

    def handle_data(self, data: str) -> None:
        kept, skipped = self._inside()
        text = " ".join(data.split())
        if kept and not skipped and text:
            self.lines.append(text)


def visible_text(html: str, keep: Keep) -> str:
    """The text inside the elements `keep` accepts (by tag and attributes), one line per text
    node, whitespace collapsed."""
    parser = _Text(keep)
    parser.feed(html)
    parser.close()
    return "\n".join(parser.lines)


def in_main(tag: str, _attrs: dict[str, str]) -> bool:
    return tag == "main"


def redact_links(text: str, links: Mapping[str, str]) -> str:
    """`text` with each link of `links` (name -> URL) replaced by `<name>`."""
    for name, url in sorted(links.items(), key=lambda item: -len(item[1])):
        if url:
            text = text.replace(url, f"<{name}>")
    return text


def redact_html_links(html: str, links: Mapping[str, str]) -> str:
    """`html` with each link of `links` replaced by `<name>`, as written in an attribute
    (HTML-escaped) or as text."""
    escaped = {name: escape(url) for name, url in links.items()}
    return redact_links(redact_links(html, escaped), links)


def session_id(token: str) -> str:
    """An id for a web session, for the audit record: derived from its cookie one way, and
    distinct from the hash the session store keeps, so it can neither sign in nor be looked up."""
    return hashlib.sha256(b"countersign audit session\x00" + token.encode()).hexdigest()[:16]
