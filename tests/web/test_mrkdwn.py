"""Slack mrkdwn as email and page authors expect it: formatted in HTML, unmarked in text, and
never a way to inject markup."""

from __future__ import annotations

import pytest

from web.mrkdwn import to_html, to_text


@pytest.mark.parametrize(
    ("mrkdwn", "html", "text"),
    [
        ("Onboard *Globex Corp*", "Onboard <strong>Globex Corp</strong>", "Onboard Globex Corp"),
        ("_soon_ and ~never~", "<em>soon</em> and <del>never</del>", "soon and never"),
        ("*bold _both_*", "<strong>bold <em>both</em></strong>", "bold both"),
        ("run `make *all*`", "run <code>make *all*</code>", "run make *all*"),
        ("```\nx = *y*\n```", "<pre>x = *y*</pre>", "\nx = *y*\n"),
        (
            "see <https://x.example/a?b=1&amp;c=2|the file>",
            'see <a href="https://x.example/a?b=1&amp;c=2">the file</a>',
            "see the file (https://x.example/a?b=1&c=2)",
        ),
        (
            "<https://x.example>",
            '<a href="https://x.example">https://x.example</a>',
            "https://x.example",
        ),
        (
            "ask <@U0BOB> in <#C0FIN|finance>, <!here>",
            "ask @U0BOB in #finance, @here",
            "ask @U0BOB in #finance, @here",
        ),
        (
            "> quoted *yes*\nplain",
            "<blockquote>quoted <strong>yes</strong></blockquote>\nplain",
            "> quoted yes\nplain",
        ),
        ("snake_case_id and 2*3*4", "snake_case_id and 2*3*4", "snake_case_id and 2*3*4"),
        ("a &lt;b&gt; &amp; c", "a &lt;b&gt; &amp; c", "a <b> & c"),
    ],
)
def test_mrkdwn_renders_to_html_and_text(mrkdwn: str, html: str, text: str) -> None:
    assert str(to_html(mrkdwn)) == html
    assert to_text(mrkdwn) == text


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        "<javascript:alert(1)|click>",
        '*<img src=x onerror="alert(1)">*',
        '<https://x.example/"onmouseover="alert(1)|x>',
    ],
)
def test_markup_in_a_message_stays_text(hostile: str) -> None:
    html = str(to_html(hostile))
    assert "<script" not in html and "<img" not in html
    assert 'href="javascript' not in html and '"onmouseover' not in html
