"""The client is importable by an agent's process that has neither Slack nor a database."""

from __future__ import annotations

import subprocess
import sys


def test_the_client_imports_nothing_of_slack_the_database_or_the_server() -> None:
    probe = (
        "import sys, countersign_client\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'slack_bolt', 'slack_sdk', 'sqlalchemy', 'asyncpg', 'aiosqlite', 'redis', "
        "'engine', 'storage', 'web', 'bot', 'cli'})\n"
        "print(','.join(bad))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_the_adapters_package_imports_no_framework_until_an_adapter_is_imported() -> None:
    probe = (
        "import sys, countersign_client.adapters\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'agents', 'pydantic_ai', 'langgraph', 'langchain_core'})))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
