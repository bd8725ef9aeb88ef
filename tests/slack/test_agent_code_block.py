"""The agent card's code block keeps within Slack's limit whatever the text, cuts only between
whole characters and whole escapes, and links to the full view when it cuts."""

from __future__ import annotations

import re

from bot.blocks.agent_card import code_block

LINK = "<https://cs.example/runs/R1|Full arguments on the web page>"


def test_short_text_is_whole_and_long_text_is_cut_between_escapes() -> None:
    assert code_block('{"a": "<x>"}', 3000, LINK) == '```\n{"a": "&lt;x&gt;"}\n```'
    for size in range(560, 640):  # around the cut, each "&" is five characters escaped
        for limit in (600, 601, 602, 603, 604):
            block = code_block("&" * size + "😀`", limit, LINK)
            assert len(block) <= limit
            if block.endswith(LINK):
                body = block.removeprefix("```\n").removesuffix("\n…```\n" + LINK)
                assert re.fullmatch(r"(&amp;)*", body), (size, limit)
            else:
                assert block.endswith("😀`\u200b\n```")


def test_a_backtick_cannot_close_the_block_early() -> None:
    assert "```" not in code_block("```rm -rf /```", 3000)[3:-3]
