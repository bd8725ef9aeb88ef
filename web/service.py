"""Starting and stopping the web adapter: the aiohttp server (API, pages, health), the email
channel on the router, the live-update subscription on the engine."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from aiohttp import web
from redis.asyncio import Redis

from engine import AccessStores, Clock, EngineApi, SystemClock
from web.api.routes import ApiDeps, AuditBundleFn
from web.api.server import add_api
from web.boundary import request_values
from web.config import WebConfig
from web.demo import add_demo_routes
from web.errors import OUTAGE, api_errors
from web.health import add_health_routes
from web.links import LinkSigner
from web.mail.channel import EmailChannel
from web.mail.guard import SentGuard
from web.mail.render import render_mail
from web.mail.sender import MailSender, mail_sender
from web.mcp_http import add_mcp
from web.metrics import Metrics
from web.pages.answers import add_answer_routes
from web.pages.auth import add_auth_routes
from web.pages.common import DEPS, PageDeps, page_errors, security_headers
from web.pages.dashboard import add_dashboard_routes
from web.pages.grants import add_grant_routes
from web.pages.link_actions import add_link_action_routes
from web.pages.links import add_link_routes
from web.pages.live import HUB, LiveHub, add_live_routes
from web.pages.start import add_start_routes
from web.pages.tasks import add_task_routes
from web.ports import MetricsSource, Readiness, Router, RunFeed
from web.webhooks import WebhookSender

log = logging.getLogger("countersign.web")
STATIC = Path(__file__).parent / "static"


def _version() -> str:
    try:
        return version("countersign")
    except PackageNotFoundError:
        return "0.0.0"


class WebService:
    """The running web adapter. `url` is where it listens; `sign_in_url` mints one-time
    dashboard links (for the Slack bot's `/workflow web`)."""

    def __init__(
        self,
        app: web.Application,
        runner: web.AppRunner,
        config: WebConfig,
        signer: LinkSigner,
        clock: Clock,
        mail: EmailChannel,
        sender: MailSender,
        hub: LiveHub,
        cleanup: list[Callable[[], Any]],
    ) -> None:
        self.app = app
        self.config = config
        self.signer = signer
        self.mail = mail
        self._runner = runner
        self._clock = clock
        self._sender = sender
        self._hub = hub
        self._cleanup = cleanup

    @property
    def url(self) -> str:
        """The address the server is bound to (useful with port 0 in tests)."""
        host, port = self._runner.addresses[0][:2]
        return f"http://{host}:{port}"

    @property
    def own_url(self) -> str:
        """How the app reaches itself (a wildcard bind address becomes loopback): the base of
        the demo endpoints its own workflows may call (`web.demo`)."""
        host, port = self._runner.addresses[0][:2]
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def sign_in_url(self, tenant_id: str, principal: str, ttl: timedelta | None = None) -> str:
        return self.signer.sign_in_url(
            tenant_id, principal, self._clock.now(), ttl or self.config.sign_in_ttl
        )

    async def email_sign_in(self, tenant_id: str, address: str) -> None:
        """Email a one-time sign-in link to `address` (an "email:" principal or bare address)."""
        to = address.removeprefix("email:")
        ttl = self.config.link_ttl
        now = self._clock.now()
        url = self.signer.sign_in_url(tenant_id, f"email:{to}", now, ttl)
        message = render_mail(
            "sign_in",
            to=to,
            sender=self.config.mail_from,
            subject="Your Countersign sign-in link",
            key=f"sign-in/{url.rsplit('/', 1)[-1][-16:]}",
            context={"url": url, "expires_at": (now + ttl).strftime("%Y-%m-%d %H:%M UTC")},
        )
        await self._sender.send(message)

    async def stop(self) -> None:
        self._hub.shutdown()
        for step in self._cleanup:
            result = step()
            if hasattr(result, "__await__"):
                await result
        await self._runner.cleanup()


async def start_web(
    engine: EngineApi,
    router: Router,
    config: WebConfig,
    access: AccessStores,
    *,
    readiness: Readiness | None = None,
    metrics_source: MetricsSource | None = None,
    clock: Clock | None = None,
    extra_routes: Sequence[web.RouteDef] = (),
    feed: RunFeed | None = None,
    redis: Redis | None = None,
    outage: Callable[[BaseException], bool] | None = None,
    audit_bundle: AuditBundleFn | None = None,
) -> WebService:
    """Start the web adapter on `config.host:port` and register the email channel on `router`.

    `readiness` (the storage, with `is_current()`) backs /readyz; `metrics_source`
    (`storage.access.SqlMetrics`) gives /metrics its run and task counts; outbox and timer lag
    come from the engine's stores when it has them. With several replicas, `feed` brings the
    run changes other processes commit to the live run pages, and `redis` shares the mail
    channel's record of sent mails (both optional: without them, each process on its own).
    `outage` (`storage.database.is_unavailable`) tells which failures mean the database cannot
    be reached now: the API and the pages answer those 503 with Retry-After. `audit_bundle`
    gives the signed audit bundle of one run (the API's and the run page's download)."""
    clock = clock or getattr(engine, "clock", None) or SystemClock()
    signer = LinkSigner(config.secret_key, config.base_url)
    metrics = Metrics(
        metrics_source, clock, getattr(engine, "outbox", None), getattr(engine, "timers", None)
    )
    webhooks = WebhookSender(
        engine.get_run,
        config.webhook_key,
        clock,
        timeout=config.webhook_timeout,
        give_up_after=config.webhook_give_up,
        allowed_hosts=config.webhook_allowed_hosts,
    )
    sender = mail_sender(config.smtp_url, config.outbox_mail_dir)
    mail = EmailChannel(
        engine.get_run,
        engine.get_definition,
        sender,
        signer,
        config,
        clock,
        webhooks,
        load_timeline=engine.timeline,
        record_shown=engine.record_shown,
        guard=SentGuard(redis, ttl=config.webhook_give_up + timedelta(days=1)),
    )
    router.register("email", mail)
    hub = LiveHub()

    app = web.Application(
        middlewares=[api_errors, page_errors, request_values], client_max_size=2 * 1024 * 1024
    )
    app.on_response_prepare.append(security_headers)
    app[DEPS] = PageDeps(engine, access, config, signer, clock, audit_bundle)
    app[HUB] = hub
    if outage is not None:
        app[OUTAGE] = outage
    add_health_routes(app, readiness, metrics, clock, config.metrics_token)
    api_deps = ApiDeps(
        engine, clock, webhooks.policy, config.approval_wait_max, audit_bundle=audit_bundle
    )
    add_api(app, api_deps, access.api_keys, _version())
    add_mcp(app, api_deps, access.api_keys)  # the approvals API as MCP tools, same keys
    add_link_routes(app)
    add_link_action_routes(app)
    add_answer_routes(app)
    add_auth_routes(app)
    add_dashboard_routes(app)
    add_task_routes(app)
    add_grant_routes(app)
    add_live_routes(app)
    add_demo_routes(app)
    add_start_routes(app)
    app.add_routes(extra_routes)  # e.g. the Slack install pages (OAuth)
    app.router.add_static("/static", STATIC)

    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    engine.subscribe(hub.on_change)
    engine.subscribe(metrics.on_change)
    engine.subscribe(mail.on_change)
    if feed is not None:
        feed.listen(hub.on_notice, hub.on_gap)
    log.info(
        "web: listening on http://%s:%s (public URL %s); mail goes to %s",
        config.host,
        config.port,
        config.base_url,
        sender.describe(),
    )
    cleanup: list[Callable[[], Any]] = [
        webhooks.close,
        lambda: engine.unsubscribe(hub.on_change),
        lambda: engine.unsubscribe(metrics.on_change),
        lambda: engine.unsubscribe(mail.on_change),
    ]
    if feed is not None:
        cleanup.append(lambda: feed.unlisten(hub.on_notice, hub.on_gap))
    return WebService(app, runner, config, signer, clock, mail, sender, hub, cleanup)
