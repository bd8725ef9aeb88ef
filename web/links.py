"""Signed links: approval links in emails and one-time sign-in links for the dashboard.

A link carries its claims (who, which run and step, until when, a nonce) signed with itsdangerous.
The expiry is a claim checked against the injected clock (not itsdangerous' wall-clock max_age),
so tests can move time. Single use is enforced by the `NonceStore` where the link is consumed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol, TypeVar

from itsdangerous import BadSignature, URLSafeSerializer

from engine import new_token
from engine import principal as principals

APPROVAL_SALT = "countersign.approval-link"
SIGN_IN_SALT = "countersign.sign-in-link"
ANSWER_SALT = "countersign.answer-link"

LinkProblem = Literal["tampered", "expired", "used", "foreign"]


class Expiring(Protocol):
    """Any link's claims: what a refusal keeps to say when the link expired."""

    @property
    def expires_at(self) -> datetime: ...


C = TypeVar("C", bound=Expiring)


class LinkRefused(Exception):
    """A link that cannot be used; `problem` says exactly why."""

    def __init__(
        self,
        problem: LinkProblem,
        claims: Expiring | None = None,
    ):
        super().__init__(problem)
        self.problem: LinkProblem = problem
        self.claims = claims


@dataclass(frozen=True)
class ApprovalClaims:
    tenant_id: str
    run_id: str
    step_id: str
    principal: str  # the approver (or input assignee) the link was sent to
    kind: Literal["approval", "input"]
    nonce: str
    expires_at: datetime


@dataclass(frozen=True)
class AnswerClaims:
    """A link that lets the requester answer one question asked about their run."""

    tenant_id: str
    run_id: str
    step_id: str
    question_id: str
    principal: str  # the requester the question was sent to
    nonce: str
    expires_at: datetime


@dataclass(frozen=True)
class SignInClaims:
    tenant_id: str
    principal: str
    nonce: str
    expires_at: datetime


def approval_nonce(command_key: str, principal: str) -> str:
    """One nonce per request sent to one person: every link of one email shares it, so using
    one (approve, reject or the form) spends them all; a re-sent email gets the same links."""
    return hashlib.sha256(f"{command_key}\0{principal}".encode()).hexdigest()[:32]


class LinkSigner:
    def __init__(self, secret_key: str, base_url: str) -> None:
        self._approval = URLSafeSerializer(secret_key, salt=APPROVAL_SALT)
        self._sign_in = URLSafeSerializer(secret_key, salt=SIGN_IN_SALT)
        self._answer = URLSafeSerializer(secret_key, salt=ANSWER_SALT)
        self._base_url = base_url.rstrip("/")

    # ------------------------------------------------------------ approval links

    def approval_token(self, claims: ApprovalClaims) -> str:
        return str(
            self._approval.dumps(
                {
                    "t": claims.tenant_id,
                    "r": claims.run_id,
                    "s": claims.step_id,
                    "p": claims.principal,
                    "k": claims.kind,
                    "n": claims.nonce,
                    "e": int(claims.expires_at.timestamp()),
                }
            )
        )

    def approval_url(self, claims: ApprovalClaims, choice: str | None = None) -> str:
        url = f"{self._base_url}/links/{self.approval_token(claims)}"
        return f"{url}?choice={choice}" if choice else url

    def read_approval(self, token: str, now: datetime) -> ApprovalClaims:
        """The claims of a genuine, unexpired link; raises `LinkRefused` otherwise (expired links
        still carry their claims, so the page can say what they were for)."""

        def claims(data: Any) -> ApprovalClaims:
            return ApprovalClaims(
                tenant_id=str(data["t"]),
                run_id=str(data["r"]),
                step_id=str(data["s"]),
                principal=str(data["p"]),
                kind="input" if data["k"] == "input" else "approval",
                nonce=str(data["n"]),
                expires_at=_expiry(data),
            )

        return _read(self._approval, token, now, claims)

    # ------------------------------------------------------------ answer links

    def answer_url(self, claims: AnswerClaims) -> str:
        token = self._answer.dumps(
            {
                "t": claims.tenant_id,
                "r": claims.run_id,
                "s": claims.step_id,
                "q": claims.question_id,
                "p": claims.principal,
                "n": claims.nonce,
                "e": int(claims.expires_at.timestamp()),
            }
        )
        return f"{self._base_url}/answers/{token}"

    def read_answer(self, token: str, now: datetime) -> AnswerClaims:
        """Like `read_approval`, for answer links."""

        def claims(data: Any) -> AnswerClaims:
            return AnswerClaims(
                tenant_id=str(data["t"]),
                run_id=str(data["r"]),
                step_id=str(data["s"]),
                question_id=str(data["q"]),
                principal=str(data["p"]),
                nonce=str(data["n"]),
                expires_at=_expiry(data),
            )

        return _read(self._answer, token, now, claims)

    # ------------------------------------------------------------ sign-in links

    def sign_in_url(self, tenant_id: str, principal: str, now: datetime, ttl: timedelta) -> str:
        """A one-time link that signs `principal` in to the dashboard of `tenant_id` (an email
        address however written: the session's person is the one its runs name)."""
        principal = principals.canonical(principal)
        token = self._sign_in.dumps(
            {
                "t": tenant_id,
                "p": principal,
                "n": new_token(),
                "e": int((now + ttl).timestamp()),
            }
        )
        return f"{self._base_url}/signin/{token}"

    def read_sign_in(self, token: str, now: datetime) -> SignInClaims:
        def claims(data: Any) -> SignInClaims:
            return SignInClaims(
                tenant_id=str(data["t"]),
                principal=str(data["p"]),
                nonce=str(data["n"]),
                expires_at=_expiry(data),
            )

        return _read(self._sign_in, token, now, claims)


def _expiry(data: Any) -> datetime:
    return datetime.fromtimestamp(int(data["e"]), UTC)


def _read(
    serializer: URLSafeSerializer, token: str, now: datetime, claims: Callable[[Any], C]
) -> C:
    """The claims of a genuine token, or `LinkRefused`: "tampered" when the signature or the
    payload is wrong, "expired" (with the claims) when it is past its time."""
    try:
        found = claims(serializer.loads(token))
    except (BadSignature, KeyError, TypeError, ValueError) as exc:
        raise LinkRefused("tampered") from exc
    if found.expires_at <= now:
        raise LinkRefused("expired", found)
    return found
