"""Every setting Countersign reads, from the environment or `.env`, read once by the app."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from engine.working_time import WorkingHours

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./countersign.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    # With several replicas on one database: shares live run-page updates, sent-mail records and
    # Slack de-duplication between them (redis://host:6379/0). Unset: each process on its own.
    redis_url: str | None = None
    # The workspace used when Slack is not connected (CLI, web, API of a single install).
    tenant: str = "local"
    workflows_dir: Path = Path("manifests/workflows")
    log_level: str = "INFO"
    # How long a claimed command or timer stays with its claimer: after a crash, the work comes
    # back to another process (or the restarted one) once this has passed.
    command_lease_seconds: float = Field(default=60.0, gt=0)
    timer_lease_seconds: float = Field(default=60.0, gt=0)
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
    admins: list[str] = Field(default_factory=list)

    http_host: str = "127.0.0.1"
    http_port: int = 8080
    public_url: str = "http://localhost:8080"
    # Signs email links and web sessions; generated into .countersign.key when unset.
    secret_key: SecretStr | None = None
    webhook_secret: SecretStr | None = None  # signs completion webhooks; default: SECRET_KEY
    metrics_token: SecretStr | None = None  # /metrics wants `Bearer <it>`; unset: open
    smtp_url: str | None = None
    mail_from: str = "Countersign <countersign@localhost>"
    outbox_mail_dir: Path = Path("outbox-mail")

    # Values for `{{ secrets.NAME }}` in http steps, as JSON: SECRETS='{"ERP_TOKEN": "..."}'.
    secrets: dict[str, SecretStr] = Field(default_factory=dict)
    # Hosts http steps may call ("api.example.com", "*.example.com", "10.0.0.0/8"). Empty: any
    # public host; private, loopback and link-local addresses only when listed here.
    outbound_allowed_hosts: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_working_hours(self) -> Settings:
        self.working_time()  # a clear error at start-up rather than at the first reminder
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

    def secret_values(self) -> dict[str, str]:
        return {k: v.get_secret_value() for k, v in self.secrets.items()}
