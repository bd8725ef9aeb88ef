"""Reading the dashboard's and link pages' HTML forms the way a browser would."""

from __future__ import annotations

import re


def csrf_of(html: str) -> str:
    """The CSRF token a page's form carries."""
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html
    return match.group(1)
