"""The engine's public face: adapters reach the engine through `engine` alone, and production
code never loads the in-memory test stores (`engine.testing`)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = ["app.py", "engine", "storage", "bot", "web", "cli", "relay", "outbound"]
ADAPTERS = ["bot", "web", "cli", "relay"]


def _imports(*roots: str) -> list[tuple[str, str]]:
    """(file, module) for every absolute `from X import` / `import X` under `roots`."""
    found = []
    for root in roots:
        path = ROOT / root
        for file in [path] if path.is_file() else sorted(path.rglob("*.py")):
            for node in ast.walk(ast.parse(file.read_text(), str(file))):
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.append((str(file.relative_to(ROOT)), node.module))
                elif isinstance(node, ast.Import):
                    found += [(str(file.relative_to(ROOT)), a.name) for a in node.names]
    return found


def test_production_code_never_imports_the_test_stores() -> None:
    fakes = [
        (file, module)
        for file, module in _imports(*PRODUCTION)
        if module.startswith("engine.testing") and not file.startswith("engine/testing/")
    ]
    assert fakes == []


def test_a_serving_process_loads_no_test_store() -> None:
    probe = (
        "import sys, app, cli.main, cli.wiring, cli.serve, storage, bot.service, web.service\n"
        "print(','.join(sorted(m for m in sys.modules if m.startswith('engine.testing'))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.strip() == ""


def test_adapters_import_the_engine_only_through_its_public_face() -> None:
    deep = [(f, m) for f, m in _imports(*ADAPTERS) if m.startswith("engine.")]
    assert deep == []


@pytest.mark.parametrize("first", ["engine", "engine.ports", "engine.state", "storage"])
def test_the_public_face_imports_whichever_module_comes_first(first: str) -> None:
    probe = f"import {first}, engine\nassert all(hasattr(engine, n) for n in engine.__all__)\n"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
