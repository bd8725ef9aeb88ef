"""`countersign workflows validate` shows every error of a file in one pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.main import main


def test_validate_shows_shape_errors_and_unknown_references_together(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: x\n"
        "inputs: [{id: amount, type: number}]\n"
        "steps:\n"
        "  - {id: a, type: wait, duration: 2 dayz}\n"
        "  - {id: b, type: notify, message: 'for {{ inputs.amout }}'}\n"
        "  - {id: c, type: http, url: 'https://erp.example/{{ steps.later.id }}'}\n"
        "  - {id: later, type: notify, message: '{% for x in range(99999) %}{% endfor %}'}\n"
    )
    assert main(["workflows", "validate", str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:4: steps.0.duration:" in out and "dayz" in out
    assert f"{bad}:5: steps.1.message: unknown input 'amout'" in out
    assert f"{bad}:6: steps.2.url: step 'c' reads steps.later, which runs later" in out
    assert (
        f"{bad}:7: steps.3.message: template syntax error: these loops would run 99,999 times"
        in out
    )
