"""Python client of Countersign's approvals API: ask people to approve what a program (e.g. an
AI agent) is about to do, and wait for the answer. Needs only aiohttp (and rfc8785 for the
digest): no Slack, no database."""

from countersign_client.client import ApprovalClient, SyncApprovalClient
from countersign_client.digest import canonical_json, digest
from countersign_client.models import Approval, ApprovalError, ConflictError, Status

__all__ = [
    "Approval",
    "ApprovalClient",
    "ApprovalError",
    "ConflictError",
    "Status",
    "SyncApprovalClient",
    "canonical_json",
    "digest",
]
