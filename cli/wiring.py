"""The composition root: builds storage, the engine and the adapters from the settings.

Nothing else reads the settings; each adapter gets its own small config object.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cli.problems import OperatorError, database_problem, listen_problem
from cli.settings import DEFAULT_DATABASE_URL, Settings
from engine import Engine, RuntimeSettings, Secrets, principal
from outbound.http import HttpHandler
from storage import Storage, open_storage
from web.config import WebConfig

log = logging.getLogger("countersign")
KEY_FILE = Path(".countersign.key")
AUDIT_KEY_FILE = Path(".countersign-audit.key")


@dataclass
class Components:
    settings: Settings
    storage: Storage
    engine: Engine
    http: HttpHandler
    tenant: str  # the Slack workspace when connected, else settings.tenant
    slack: Any = None  # bot.service.SlackService
    web: Any = None  # web.service.WebService
    redis: Any = None  # redis.asyncio.Redis, when REDIS_URL is set (shared by the adapters)
    feed: Any = None  # relay.redis_feed.RedisRunFeed: run changes to and from other replicas
    closers: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)

    async def start(self) -> None:
        await self.engine.start()


def secret_key(settings: Settings) -> str:
    """SECRET_KEY, or one generated once into .countersign.key so links survive restarts."""
    if settings.secret_key:
        return settings.secret_key.get_secret_value()
    if KEY_FILE.exists():
        return KEY_FILE.read_text().strip()
    key = secrets.token_urlsafe(32)
    KEY_FILE.write_text(key + "\n")
    KEY_FILE.chmod(0o600)
    log.info("generated a secret key into %s (set SECRET_KEY in production)", KEY_FILE)
    return key


def audit_key() -> Ed25519PrivateKey:
    """The Ed25519 key that signs audit checkpoints, generated once into .countersign-audit.key
    (beside .countersign.key). Its public half is what auditors verify bundles with."""
    if AUDIT_KEY_FILE.exists():
        key = serialization.load_pem_private_key(AUDIT_KEY_FILE.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise OperatorError(f"{AUDIT_KEY_FILE} does not hold an Ed25519 private key")
        return key
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    AUDIT_KEY_FILE.touch(0o600)
    AUDIT_KEY_FILE.write_bytes(pem)
    log.info("generated the audit signing key into %s", AUDIT_KEY_FILE)
    return key


def local_operator() -> str:
    """Who runs the CLI (and the server) on this machine, as CLI commands record them."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name (e.g. a container user without a passwd entry)
        return "cli:operator"


async def open_database(settings: Settings) -> Storage:
    """The storage, migrated to the current schema; an unreachable, unusable or too new
    database is an `OperatorError` that says which and what to check."""
    try:
        # The key is read (or generated) only when a secret is first encrypted or decrypted.
        return await open_storage(
            settings.database_url, create=True, secret_key=lambda: secret_key(settings)
        )
    except Exception as exc:
        problem = database_problem(exc, settings.database_url)
        if problem is None:
            raise
        raise problem from exc


async def upgrade_database(settings: Settings) -> None:
    storage = await open_database(settings)
    await storage.close()


async def _core(settings: Settings) -> Components:
    storage = await open_database(settings)
    runtime = RuntimeSettings(
        command_lease=timedelta(seconds=settings.command_lease_seconds),
        timer_lease=timedelta(seconds=settings.timer_lease_seconds),
    )
    try:
        # The http steps read the same secrets the engine checks definitions against.
        tenant_secrets = Secrets(storage.secrets, settings.seeded_secrets())
        http = HttpHandler(secrets=tenant_secrets, allowed_hosts=settings.outbound_allowed_hosts)
        engine = Engine.from_storage(
            storage,
            settings=runtime,
            working_hours=settings.working_time(),
            secrets=tenant_secrets,
            handlers={"call_http": http},
        )
    except BaseException:  # e.g. a bad secret name in the settings
        await storage.close()
        raise
    parts = Components(settings, storage, engine, http, settings.tenant)
    if settings.redis_url:
        _connect_redis(parts, settings.redis_url)
    return parts


def _connect_redis(parts: Components, url: str) -> None:
    """One client for every adapter; the feed publishes each committed run change (off the
    commit path) and tells the web adapter about the other replicas' ones."""
    from redis.asyncio import Redis

    from relay.redis_feed import RedisRunFeed

    parts.redis = Redis.from_url(
        url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30
    )
    parts.feed = RedisRunFeed(parts.redis)
    parts.engine.subscribe(parts.feed.on_change)
    parts.feed.start()
    parts.closers += [parts.feed.stop, parts.redis.aclose]  # flush the feed, then close


@asynccontextmanager
async def open_engine(settings: Settings) -> AsyncIterator[Engine]:
    """The engine for one CLI command: it records what the command does; the serving process
    (`countersign serve`) carries out the resulting work."""
    parts = await _core(settings)
    try:
        yield parts.engine
    finally:
        await shutdown(parts)


async def build(settings: Settings) -> Components:
    """Everything `serve` runs, with a few plain log lines about what is on and how to turn on
    what is off."""
    parts = await _core(settings)
    try:
        _log_database(settings)
        if settings.redis_url:
            log.info(
                "Redis: %s (live pages and sent-mail records shared by replicas)",
                settings.redis_url.split("@")[-1],
            )
        else:
            log.info("Redis: off (one process; set REDIS_URL to run several replicas)")
        await _start_slack(parts)
        await _start_web(parts)
        _start_checkpointer(parts)
    except BaseException:
        await shutdown(parts)
        raise
    return parts


def _start_checkpointer(parts: Components) -> None:
    from cli.audit_log import checkpoint_periodically

    minutes = parts.settings.audit_checkpoint_minutes
    keep = parts.settings.retention_days
    task = asyncio.create_task(checkpoint_periodically(parts.storage, audit_key, minutes, keep))

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    parts.closers.insert(0, stop)


def _log_database(settings: Settings) -> None:
    url = settings.database_url
    if url == DEFAULT_DATABASE_URL:
        log.info(
            "database: embedded SQLite in ./countersign.db "
            "(for production set DATABASE_URL=postgresql+asyncpg://user@host/db)"
        )
    else:
        log.info("database: %s", url.split("@")[-1] if "@" in url else url)


async def _start_slack(parts: Components) -> None:
    s = parts.settings
    if not s.slack_enabled:
        log.info(
            "Slack: off. Create the app from manifests/slack-app.yaml, then set SLACK_BOT_TOKEN "
            "(xoxb-…) and SLACK_APP_TOKEN (xapp-…) to turn it on (see the README)"
        )
        return
    from bot.config import SlackConfig
    from bot.message_refs import MessageRef
    from bot.service import start_slack
    from storage.slack_functions import SqlFunctionSteps
    from storage.slack_home import SqlHomeOpeners
    from storage.slack_installations import installation_store, oauth_state_store
    from storage.slack_messages import SqlMessageRefs

    assert s.slack_app_token
    oauth = s.slack_client_id and s.slack_client_secret and not s.slack_bot_token
    config = SlackConfig(
        bot_token=s.slack_bot_token.get_secret_value() if s.slack_bot_token else None,
        app_token=s.slack_app_token.get_secret_value(),
        api_url=s.slack_api_url,
        command=s.slack_command,
        admins=list(s.admins),
        client_id=s.slack_client_id if oauth else None,
        client_secret=(
            s.slack_client_secret.get_secret_value() if oauth and s.slack_client_secret else None
        ),
        public_url=s.public_url,
    )
    db = parts.storage.engine
    slack = await start_slack(
        parts.engine,
        parts.engine.router,
        config,
        SqlMessageRefs(db, MessageRef),
        installations=installation_store(db, config.client_id) if config.client_id else None,
        oauth_states=oauth_state_store(db) if oauth else None,
        redis=parts.redis,
        home_openers=SqlHomeOpeners(db),
        function_steps=SqlFunctionSteps(db, lambda: secret_key(s)),
    )
    parts.slack = slack
    if slack.team_id:  # a single-workspace install: bundled workflows go to that workspace
        parts.tenant = slack.team_id
        # ... and SECRETS are its secrets too (unless TENANT_SECRETS names it).
        parts.engine.secrets.seed(slack.team_id, s.seeded_secrets().get(s.tenant, {}))


def web_config(settings: Settings) -> WebConfig:
    s = settings
    return WebConfig(
        secret_key=secret_key(s),
        host=s.http_host,
        port=s.http_port,
        public_url=s.public_url,
        smtp_url=s.smtp_url,
        mail_from=s.mail_from,
        outbox_mail_dir=str(s.outbox_mail_dir),
        webhook_secret=s.webhook_secret.get_secret_value() if s.webhook_secret else "",
        metrics_token=s.metrics_token.get_secret_value() if s.metrics_token else "",
        webhook_allowed_hosts=tuple(s.outbound_allowed_hosts),
        admins=tuple(principal.canonical(a) for a in s.admins),  # an address as sessions name it
        # Without Slack and ADMINS, whoever the operator signs in (`countersign signin`)
        # administers the local workspace: there is nobody else to name as admin.
        open_admin_tenant=None if s.admins or s.slack_enabled else s.tenant,
    )


async def _start_web(parts: Components) -> None:
    from cli.audit_log import run_bundles
    from storage.access import SqlMetrics, sql_access_stores
    from storage.database import is_unavailable
    from web.demo import DEMO_PATHS
    from web.service import start_web

    config = web_config(parts.settings)
    access = sql_access_stores(parts.storage.engine)
    try:
        parts.web = await start_web(
            parts.engine,
            parts.engine.router,
            config,
            access,
            readiness=parts.storage,
            metrics_source=SqlMetrics(parts.storage.engine),
            extra_routes=parts.slack.http_routes if parts.slack else (),
            feed=parts.feed,
            redis=parts.redis,
            outage=is_unavailable,
            audit_bundle=run_bundles(parts.storage, audit_key),
        )
    except OSError as exc:
        raise listen_problem(exc, config.host, config.port) from None
    # The quickstart's http step calls the app's own demo endpoint, and only that opens.
    parts.http.serve_own(parts.web.own_url, DEMO_PATHS)
    if parts.slack is not None:  # the bot's `/workflow web` links and its email fallback
        parts.slack.hooks.sign_in_url = parts.web.sign_in_url
        parts.slack.hooks.email = parts.web.mail.deliver_to
    else:
        await _offer_sign_in(parts, access.nonces)


# Marks, as a never-expiring used nonce, that this workspace's first start without Slack has
# printed its sign-in link: shown once per database, whichever replica starts first.
FIRST_SIGN_IN = "first-start-sign-in-link"
NEVER = datetime(9999, 1, 1, tzinfo=UTC)


async def _offer_sign_in(parts: Components, nonces: Any) -> None:
    """Without Slack there is no `/workflow web`: the first start prints a one-time sign-in
    link for the local operator; later starts say how to get one."""
    now = parts.engine.clock.now()
    if not await nonces.use(parts.tenant, FIRST_SIGN_IN, NEVER, now):
        log.info("dashboard sign-in: `countersign signin` prints a one-time link")
        return
    who = local_operator()
    role = " (admin)" if parts.web.config.is_admin(parts.tenant, who) else ""
    minutes = int(parts.web.config.sign_in_ttl.total_seconds() // 60)
    log.info(
        "sign in to the dashboard as %s%s: %s (works once, for %d minutes; "
        "`countersign signin` prints a new one)",
        who,
        role,
        parts.web.sign_in_url(parts.tenant, who),
        minutes,
    )


async def shutdown(parts: Components) -> None:
    """Stop taking new work first (Slack, web), then the engine, then close the database."""
    for adapter in (parts.slack, parts.web):
        if adapter is not None:
            await adapter.stop()
    await parts.engine.stop()
    for close in parts.closers:
        await close()
    await parts.http.close()
    await parts.storage.close()
