"""Every setting Countersign reads, from the environment or `.env`, read once by the app."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from engine import WorkingHours

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./countersign.db"
# A list setting: JSON (`["a", "b"]`) or comma-separated (`a,b`), decoded by `_split`.
Names = Annotated[list[str], NoDecode]
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
URL_SCHEMES = {"smtp_url": ("smtp", "smtps"), "redis_url": ("redis", "rediss", "unix")}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    # With several replicas on one database: shares live run-page updates, sent-mail records and
    # Slack de-duplication between them (redis://host:6379/0). Unset: each process on its own.
    redis_url: str | None = None
    # The workspace used when Slack is not connected (CLI, web, API of a single install).
    tenant: str = Field(default="local", min_length=1)
    workflows_dir: Path = Path("manifests/workflows")
    log_level: str = "INFO"
    # How long a claimed command or timer stays with its claimer: after a crash, the work comes
    # back to another process (or the restarted one) once this has passed.
    command_lease_seconds: float = Field(default=60.0, gt=0)
    timer_lease_seconds: float = Field(default=60.0, gt=0)
    # The serving process signs an audit checkpoint of each workspace this often, when changed.
    audit_checkpoint_minutes: float = Field(default=10.0, gt=0)
    # Finished runs older than this many days are purged (with a signed checkpoint recording
    # it) on each checkpoint round and by `audit purge`. Unset: runs are kept forever.
    retention_days: float | None = Field(default=None, gt=0)
    # Reminders move into working hours, and "16 working hours" counts only them, in each
    # approver's own zone (Slack profile); the default zone is for everyone else.
    working_hours: str = "09:00-18:00"
    working_days: str = "mon-fri"
    default_time_zone: str = "UTC"

    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str | None = None  # override of https://slack.com/api/ (tests, proxies)
    # OAuth, to install in several workspaces (instead of SLACK_BOT_TOKEN); see bot/README.md.
    slack_client_id: str | None = None
    slack_client_secret: SecretStr | None = None
    slack_command: str = "/workflow"
    # Slack user ids allowed to define workflows and cancel anyone's run.
    admins: Names = Field(default_factory=list)

    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)  # 0: any free port (tests)
    # Where browsers and mail readers reach us; unset: follows HTTP_HOST and HTTP_PORT.
    public_url: str = ""
    # Signs email links and web sessions; generated into .countersign.key when unset.
    secret_key: SecretStr | None = None
    webhook_secret: SecretStr | None = None  # signs completion webhooks; default: SECRET_KEY
    metrics_token: SecretStr | None = None  # /metrics wants `Bearer <it>`; unset: open
    smtp_url: str | None = None
    mail_from: str = "Countersign <countersign@localhost>"
    outbox_mail_dir: Path = Path("outbox-mail")

    # Secrets for `{{ secrets.NAME }}` in the TENANT workspace's http steps, as JSON:
    # SECRETS='{"ERP_TOKEN": "..."}'; other workspaces':
    # TENANT_SECRETS='{"T0ACME": {"ERP_TOKEN": "..."}}'. `countersign secrets set` adds more (a
    # secret set that way replaces a setting of the same name).
    secrets: dict[str, SecretStr] = Field(default_factory=dict)
    tenant_secrets: dict[str, dict[str, SecretStr]] = Field(default_factory=dict)
    # Hosts http steps may call ("api.example.com", "*.example.com", "10.0.0.0/8"). Empty: any
    # public host; private, loopback and link-local addresses only when listed here.
    outbound_allowed_hosts: Names = Field(default_factory=list)

    @field_validator("admins", "outbound_allowed_hosts", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(
                    f"not a JSON list ({exc}); or give the values comma-separated"
                ) from None
        return [part.strip() for part in text.split(",") if part.strip()]

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        if value.upper() not in LOG_LEVELS:
            raise ValueError(f"not a log level; use one of {', '.join(LOG_LEVELS)}")
        return value

    @field_validator("smtp_url", "redis_url")
    @classmethod
    def _url(cls, value: str | None, info: ValidationInfo) -> str | None:
        schemes = URL_SCHEMES[info.field_name or ""]
        if value and not value.startswith(tuple(f"{s}://" for s in schemes)):
            example = (
                "smtp://user:password@host:587" if "smtp" in schemes else "redis://host:6379/0"
            )
            raise ValueError(
                f"must start with {' or '.join(f'{s}://' for s in schemes)}, e.g. {example}"
            )
        return value or None

    @field_validator("secret_key")
    @classmethod
    def _key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters (e.g. from `openssl rand -hex 32`)")
        return value

    @model_validator(mode="after")
    def _check(self) -> Settings:
        self.working_time()  # a clear error at start-up rather than at the first reminder
        if not self.public_url:
            self.public_url = default_public_url(self.http_host, self.http_port)
        elif not self.public_url.startswith(("http://", "https://")):
            raise ValueError(f"PUBLIC_URL {self.public_url!r} must start with http:// or https://")
        return self

    def working_time(self) -> WorkingHours:
        try:
            return WorkingHours.parse(self.working_hours, self.working_days, self.default_time_zone)
        except ValueError as exc:
            raise ValueError(f"WORKING_HOURS/WORKING_DAYS/DEFAULT_TIME_ZONE: {exc}") from None

    @property
    def slack_enabled(self) -> bool:
        oauth = bool(self.slack_client_id and self.slack_client_secret)
        return bool(self.slack_app_token and (self.slack_bot_token or oauth))

    def seeded_secrets(self) -> dict[str, dict[str, str]]:
        """tenant -> name -> value, from SECRETS (the TENANT workspace) and TENANT_SECRETS."""
        seeds = {
            t: {k: v.get_secret_value() for k, v in m.items()}
            for t, m in self.tenant_secrets.items()
        }
        if self.secrets:
            own = seeds.setdefault(self.tenant, {})
            own.update({k: v.get_secret_value() for k, v in self.secrets.items()})
        return seeds


def default_public_url(host: str, port: int) -> str:
    """The URL links point to when PUBLIC_URL is unset: the address the server listens on
    (localhost for the loopback and wildcard addresses, which browsers cannot open as such)."""
    if host in ("", "0.0.0.0", "::", "127.0.0.1", "::1", "localhost"):
        host = "localhost"
    elif ":" in host:
        host = f"[{host}]"  # an IPv6 address
    return f"http://{host}:{port}"
