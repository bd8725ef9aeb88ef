"""Countersign's entry point: `python app.py [COMMAND]` is the same as the `countersign` command.

With no command it serves: the engine, and Slack and the web server when configured.
"""

from __future__ import annotations

import sys

from cli.main import main

if __name__ == "__main__":
    sys.exit(main())
