"""The main job: database, engine, bundled workflows, then Slack and the web server when set up."""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import signal
from pathlib import Path

from cli.definitions_cmd import needs_note
from cli.problems import OperatorError
from cli.settings import Settings
from cli.wiring import Components, build, shutdown
from engine import DefinitionError

log = logging.getLogger("countersign")
_UNKNOWN_SECRET = re.compile(r"unknown secret '([A-Za-z_][A-Za-z0-9_]*)'")


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    # Their per-migration and per-job lines drown ours; warnings still show.
    for noisy in ("alembic", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


async def apply_bundled(parts: Components, tenant: str, folder: Path) -> None:
    """Apply every workflow file in `folder`: a new version only where a file changed."""
    files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml"), *folder.glob("*.json")])
    if not files:
        log.warning(
            "no workflow files in %s (WORKFLOWS_DIR): none applied; add some, or use "
            "`countersign workflows apply FILE`",
            folder.resolve(),
        )
    for path in files:
        try:
            text = path.read_text()
            applied = await parts.engine.apply_definition(tenant, text, str(path))
        except DefinitionError as exc:
            missing = _missing_secrets(exc)
            if missing:  # valid, but its workspace lacks secrets: say which, in one line
                log.warning(
                    "workflow %s not applied: it needs the secret%s %s; set %s with "
                    "`countersign secrets set NAME --tenant %s`, then start again",
                    path.name,
                    "s" if len(missing) > 1 else "",
                    ", ".join(missing),
                    "them" if len(missing) > 1 else "it",
                    tenant,
                )
            else:
                log.error("skipping %s, it is not valid:\n%s", path, exc.message)
            continue
        state = f"version {applied.version} created" if applied.created else "unchanged"
        log.info("workflow %s (%s): %s%s", applied.name, path.name, state, needs_note(text))


def _missing_secrets(exc: DefinitionError) -> list[str]:
    """The secret names a definition lacks when those are its only problems, else []."""
    names = [_UNKNOWN_SECRET.match(issue.message) for issue in exc.issues]
    if not names or not all(names):
        return []
    return sorted({m.group(1) for m in names if m})


def check_workflows_dir(settings: Settings) -> None:
    """A WORKFLOWS_DIR that was set must exist (a typo would otherwise start with no workflows);
    the default folder may be missing (the warning in `apply_bundled` says so)."""
    folder = settings.workflows_dir
    if "workflows_dir" in settings.model_fields_set and not folder.is_dir():
        state = "is not a folder" if folder.exists() else "does not exist"
        raise OperatorError(
            f"WORKFLOWS_DIR {folder} {state}; point it at the folder of workflow files "
            "(or unset it for manifests/workflows)"
        )


async def serve(settings: Settings) -> int:
    check_workflows_dir(settings)
    setup_logging(settings.log_level)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    parts = await build(settings)
    try:
        await apply_bundled(parts, parts.tenant, settings.workflows_dir)
        # Everything loaded so far (modules, schemas, clients) lives as long as the process: keep
        # it out of the collector's full passes, which otherwise pause the loop ~100 ms each.
        gc.freeze()
        await parts.start()
        log.info("ready; Ctrl-C stops (nothing in flight is lost: it resumes at the next start)")
        await stop.wait()
        log.info("stopping")
    finally:
        await shutdown(parts)
    return 0
