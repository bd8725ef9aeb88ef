"""Typed answers of the approvals API."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Status = Literal["pending", "approved", "rejected", "expired", "cancelled"]
FINAL: frozenset[str] = frozenset({"approved", "rejected", "expired", "cancelled"})


def _when(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


@dataclass(frozen=True)
class Approval:
    """An approval request as the server reports it.

    `status` is `pending` until people decide (`approved` / `rejected`), the timeout passes
    (`expired`: `decision` then holds the default decision that applied), or the request is
    cancelled. An approval holds only for the details whose SHA-256 is `digest`."""

    id: str
    status: Status
    title: str
    digest: str
    details: dict[str, Any] = field(default_factory=dict)
    summary: str = ""
    approvers: list[str] = field(default_factory=list)
    editable: list[str] = field(default_factory=list)
    decision: Literal["approve", "reject"] | None = None
    decided_by: list[str] = field(default_factory=list)
    decided_at: datetime | None = None
    comment: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    created_at: datetime | None = None
    expires_at: datetime | None = None
    callback_url: str | None = None
    # Set when an approver changed `editable` arguments: the details that were approved instead
    # of `details`, and their digest.
    edited_details: dict[str, Any] | None = None
    edited_digest: str = ""

    @property
    def done(self) -> bool:
        """True once the request will not change any more."""
        return self.status in FINAL

    @property
    def approved(self) -> bool:
        """True when people approved it (not when an approve-by-default expired)."""
        return self.status == "approved"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Approval:
        return cls(
            id=data["id"],
            status=data["status"],
            title=data.get("title", ""),
            digest=data.get("digest", ""),
            details=data.get("details") or {},
            summary=data.get("summary", ""),
            approvers=list(data.get("approvers") or []),
            editable=list(data.get("editable") or []),
            decision=data.get("decision"),
            decided_by=list(data.get("decided_by") or []),
            decided_at=_when(data.get("decided_at")),
            comment=data.get("comment"),
            fields=data.get("fields") or {},
            reason=data.get("reason", ""),
            created_at=_when(data.get("created_at")),
            expires_at=_when(data.get("expires_at")),
            callback_url=data.get("callback_url"),
            edited_details=data.get("edited_details"),
            edited_digest=data.get("edited_digest") or "",
        )


class ApprovalError(Exception):
    """The server refused a call (4xx), or it could not be reached after the retries."""

    def __init__(
        self, message: str, *, status: int | None = None, code: str = "", details: Any = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.details = details


class ConflictError(ApprovalError):
    """409: e.g. the idempotency key was used for other details, or the request is decided."""
