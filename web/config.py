"""Settings of the web adapter, filled by the composition root (app.py) from its settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class WebConfig:
    secret_key: str  # signs links and CSRF tokens; keep it stable across restarts
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = "http://localhost:8080"  # how browsers and mail readers reach us
    link_ttl: timedelta = timedelta(days=7)  # approval links in emails
    sign_in_ttl: timedelta = timedelta(minutes=15)  # one-time sign-in links
    session_ttl: timedelta = timedelta(days=7)
    smtp_url: str | None = None  # smtp://user:pass@host:port (smtps:// for implicit TLS)
    mail_from: str = "Countersign <countersign@localhost>"
    outbox_mail_dir: str = "./outbox-mail"  # where mails go when there is no SMTP server
    webhook_secret: str = ""  # signs completion webhooks; empty: secret_key is used
    webhook_timeout: float = 10.0
    webhook_give_up: timedelta = timedelta(days=3)  # stop retrying this long after the run ended
    # Where callback URLs may point (same syntax as OUTBOUND_ALLOWED_HOSTS): empty allows any
    # public host; private, loopback and link-local addresses only when listed.
    webhook_allowed_hosts: tuple[str, ...] = ()
    # People (Slack user ids or "email:addr") who may reassign any pending request from the
    # dashboard: the ADMINS setting.
    admins: tuple[str, ...] = ()
    # A workspace without ADMINS and without Slack (the local one): there, everyone signed in
    # other than email approvers ("email:" principals) was signed in by its operator
    # (`countersign signin`), and administers it.
    open_admin_tenant: str | None = None
    # What /metrics wants as `Authorization: Bearer <token>`; empty: /metrics is open.
    metrics_token: str = ""
    # The longest an approval long-poll (`?wait=`) or event stream stays open; clients then
    # ask again (event streams reconnect by themselves).
    approval_wait_max: float = 60.0

    def __post_init__(self) -> None:
        if len(self.secret_key) < 16:
            raise ValueError("WebConfig.secret_key must be at least 16 characters")
        if not self.public_url.startswith(("http://", "https://")):
            raise ValueError("WebConfig.public_url must start with http:// or https://")

    def is_admin(self, tenant_id: str, principal: str) -> bool:
        if principal in self.admins:
            return True
        return tenant_id == self.open_admin_tenant and not principal.startswith("email:")

    @property
    def base_url(self) -> str:
        return self.public_url.rstrip("/")

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")

    @property
    def webhook_key(self) -> str:
        return self.webhook_secret or self.secret_key
