"""The pure side of secrets: which names templates read, redaction, seeds under stored values."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.errors import InvalidInput, NotAllowed, NotFound
from engine.secrets import Redactor, Secrets, read_only, referenced
from engine.testing import MemorySecretStore

NOW = datetime(2026, 12, 6, 14, 0, tzinfo=UTC)


def test_referenced_names_and_whole_use() -> None:
    assert referenced(["Bearer {{ secrets.A }}", "{{ secrets['B'] }}/{{ inputs.x }}", "plain"]) == {
        "A",
        "B",
    }
    assert referenced(["{{ inputs.x }}"]) == set()
    assert referenced(["{{ secrets }}"]) is None
    assert referenced(["{{ secrets.A"]) is None  # does not parse: rendering will say why


def test_redaction_replaces_every_form_a_value_comes_back_in() -> None:
    hide = Redactor({"TOKEN": 'ab"c/d+e', "SHORT": "ab", "PIN": "123456"})
    echoed = {
        "header": 'Bearer ab"c/d+e',
        "json_text": '{"t": "ab\\"c/d+e"}',
        "url": "https://x/?t=ab%22c%2Fd%2Be",
        "list": ["ab", 'ab"c/d+e'],
        'ab"c/d+e': "as a key",
        "pin": 123456,
        "count": 7,
        "flag": True,
    }
    assert hide.value(echoed) == {
        "header": "Bearer [secret TOKEN]",
        "json_text": '{"t": "[secret TOKEN]"}',
        "url": "https://x/?t=[secret TOKEN]",
        "list": ["[secret SHORT]", "[secret TOKEN]"],
        "[secret TOKEN]": "as a key",
        "pin": "[secret PIN]",
        "count": 7,
        "flag": True,
    }
    assert not Redactor({}) and Redactor({}).value(echoed) is echoed


def test_a_cut_never_leaves_part_of_a_secret() -> None:
    hide = Redactor({"TOKEN": "0123456789"})
    assert hide.clip("abc 0123456789 def", 100) == "abc [secret TOKEN] def"
    assert hide.clip("abc 0123456789 def", 10) == "abc [secre"  # whole ones first
    # A read that stopped inside the secret: what is left of it at the cut goes too.
    assert hide.clip("abcdef 0123456", 12) == "abcdef [secret TOKEN]"
    assert hide.clip("abcdefghi 0123456", 12) == "abcdefghi 01"  # under MIN_PARTIAL chars
    assert hide.clip("short 0123", 100) == "short 0123"  # not cut: the real end


def test_the_template_mapping_is_read_only() -> None:
    secrets = read_only({"A": "1"})
    with pytest.raises(TypeError):
        secrets["A"] = "2"  # type: ignore[index]
    assert not hasattr(secrets, "update")


async def test_stored_values_replace_seeded_ones_per_tenant() -> None:
    secrets = Secrets(MemorySecretStore(), {"T1": {"A": "seed", "B": "seed-b"}})
    await secrets.put("T1", "A", "stored", NOW)
    assert await secrets.values("T1", None) == {"A": "stored", "B": "seed-b"}
    assert await secrets.values("T1", ["B"]) == {"B": "seed-b"}
    assert await secrets.values("T2", None) == {}
    assert [(s.name, s.source) for s in await secrets.listed("T1")] == [
        ("A", "stored"),
        ("B", "settings"),
    ]
    await secrets.delete("T1", "A")
    assert await secrets.values("T1", ["A"]) == {"A": "seed"}  # the setting shows again
    with pytest.raises(NotAllowed, match="comes from the settings"):
        await secrets.delete("T1", "A")
    with pytest.raises(NotFound, match="T2 has no secret 'A'"):
        await secrets.delete("T2", "A")
    with pytest.raises(InvalidInput, match="not a secret name"):
        await secrets.put("T1", "1abc", "v", NOW)
    secrets.seed("T1", {"C": "ignored"})  # a tenant the settings name keeps its own seeds
    secrets.seed("T9", {"C": "c"})
    assert await secrets.names("T1") == {"A", "B"}
    assert await secrets.values("T9", None) == {"C": "c"}
