"""The email channel: a `CommandHandler` the router uses for "email:" principals.

It performs approval and input requests (with signed single-use links), short reminders,
escalated and delegated requests (saying why they came), questions to an email requester (with
a signed answer link) and their answers to an email approver, notifications and outcomes; for
every final `run_changed` it also delivers the completion webhook, because the router broadcasts
`run_changed` to every channel and the web adapter owns webhooks.

Failures to hand a mail over return `Unavailable`: the outbox keeps the command and the
dispatcher tries again later, so no mail is lost.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from email.message import EmailMessage
from typing import Any

from engine import (
    FINAL_STATUSES,
    Clock,
    Command,
    EngineError,
    Event,
    Failed,
    NotFound,
    Outcome,
    RecordedEvent,
    RequestApproval,
    RequestInput,
    RunChanged,
    RunState,
    SendNotification,
    Shown,
    StoredDefinition,
    Succeeded,
    Unavailable,
    UpdateApproval,
    input_rows,
    one_line,
    part_hash,
    step_title,
)
from engine import events as ev
from web.config import WebConfig
from web.links import AnswerClaims, ApprovalClaims, LinkSigner, approval_nonce
from web.mail.guard import SentGuard
from web.mail.render import render_mail
from web.mail.sender import MailSender, MailUnavailable
from web.messages import step_message
from web.shown import redact_html_links, redact_links
from web.sla import delegation_note, span, waiting_since
from web.webhooks import WebhookSender

SUBJECT_SUMMARY = 80  # characters of the run's summary an email subject carries
log = logging.getLogger("countersign.mail")

RETRY_AFTER = 30.0
FINISHED_KEPT = 256  # finished runs kept for the commands their last change issued (a bound)
QUESTION_COMMANDS = ("ask_question", "answer_delivered")


def _kind(command: Command) -> str:
    """The command's type tag (read loosely: question commands are newer than this module)."""
    return str(getattr(command, "type", ""))


def email_address(principal: str) -> str | None:
    """The address of an email principal ("email:a@b" or a bare "a@b"), else None."""
    address = principal.removeprefix("email:")
    return address if "@" in address and ":" not in address else None


class EmailChannel:
    def __init__(
        self,
        load_run: Callable[[str, str], Awaitable[RunState]],
        load_definition: Callable[[str, str, int], Awaitable[StoredDefinition]],
        sender: MailSender,
        signer: LinkSigner,
        config: WebConfig,
        clock: Clock,
        webhooks: WebhookSender,
        load_timeline: Callable[[str, str], Awaitable[list[RecordedEvent]]] | None = None,
        guard: SentGuard | None = None,
        record_shown: Callable[[str, str, Sequence[Shown]], Awaitable[None]] | None = None,
    ) -> None:
        self._load_run = load_run
        self._load_timeline = load_timeline
        self._load_definition = load_definition
        self._sender = sender
        self._signer = signer
        self._config = config
        self._clock = clock
        self._webhooks = webhooks
        # (command key, address) of mails sent lately: when a broadcast command is retried
        # (e.g. its webhook failed), its mails are not sent again (by any replica with Redis).
        self._guard = guard or SentGuard()
        self._record_shown = record_shown  # EngineApi.record_shown: what each mail showed
        # Runs this process finished, as committed (see `on_change`).
        self._finished: OrderedDict[tuple[str, str], RunState] = OrderedDict()

    async def on_change(self, state: RunState, _events: list[Event]) -> None:
        """The engine committed `state` in this process. A finished run's steps, outcome and
        requester no longer change, so the commands its last change issued (the outcome mails,
        the completion webhook: two reads of the run per decision) use it as committed."""
        key = (state.tenant_id, state.run_id)
        if state.status not in FINAL_STATUSES:
            return
        known = self._finished.get(key)
        if known is None or known.seq < state.seq:
            self._finished[key] = state
            self._finished.move_to_end(key)
            while len(self._finished) > FINISHED_KEPT:
                self._finished.popitem(last=False)

    async def _run(self, tenant_id: str, run_id: str) -> RunState:
        finished = self._finished.get((tenant_id, run_id))
        if finished is not None:
            return finished
        return await self._load_run(tenant_id, run_id)

    async def perform(self, command: Command) -> Outcome:
        try:
            if isinstance(command, RunChanged):
                return await self._run_changed(command)
            await self._mail(command)
        except MailUnavailable as exc:
            log.warning("mail not sent, will retry: %s", exc)
            return Unavailable(str(exc), RETRY_AFTER)
        except NotFound:
            pass  # the run or its definition is gone: nobody is left to tell
        return Succeeded()

    async def deliver_to(self, command: Command, address: str) -> Outcome:
        """Email a request or notification meant for a Slack user to their `address` (the Slack
        channel's fallback when delivery in Slack fails). The links still name the Slack user,
        so the decision is theirs, recorded as made through email. A command that has no email
        answers `Failed`."""
        try:
            if isinstance(command, RequestApproval | RequestInput):
                principal = (
                    command.approver if isinstance(command, RequestApproval) else command.assignee
                )
                await self._send_request(command, principal, address)
            elif isinstance(command, SendNotification):
                await self._notify(command, address)
            elif _kind(command) in QUESTION_COMMANDS:
                await self._question_mail(command, address)
            else:  # e.g. a card update: there is no email for it, and retrying will not make one
                return Failed(f"cannot deliver {command.type} by email")
        except MailUnavailable as exc:
            return Unavailable(str(exc), RETRY_AFTER)
        except NotFound:
            pass
        return Succeeded()

    async def _run_changed(self, command: RunChanged) -> Outcome:
        if not command.final:
            return Succeeded()
        run = await self._run(command.tenant_id, command.run_id)
        to = email_address(run.requester)
        if to:
            key = f"{run.run_id}/finished"
            await self._send_outcome(key, run, to, f"Your request is {run.status}")
        return await self._webhooks.perform(command, run)

    async def _mail(self, command: Command) -> None:
        if isinstance(command, RequestApproval | RequestInput):
            principal = (
                command.approver if isinstance(command, RequestApproval) else command.assignee
            )
            if email_address(principal):
                await self._send_request(command, principal)
        elif isinstance(command, SendNotification):
            to = email_address(command.to)
            if to:
                await self._notify(command, to)
        elif isinstance(command, UpdateApproval):
            await self._step_outcome(command)
        elif _kind(command) in QUESTION_COMMANDS:
            to = email_address(str(getattr(command, "to", "")))
            if to:
                await self._question_mail(command, to)

    async def _notify(self, command: SendNotification, to: str) -> None:
        run = await self._run(command.tenant_id, command.run_id)
        subject = f"{run.workflow}: a message for you"
        context = {"run": run, "text": command.text}
        await self._send("notification", to, subject, command.key, context)

    async def _send_request(
        self,
        command: RequestApproval | RequestInput,
        principal: str,
        address: str | None = None,
    ) -> None:
        run = await self._run(command.tenant_id, command.run_id)
        step = run.steps.get(command.step_id)
        if step is None or step.status != "waiting":
            return  # decided or cancelled meanwhile: an email now would only confuse
        context = await self._request_context(run, command.step_id, command.key, principal)
        kind = str(command.kind)
        context["kind"] = kind
        context["note"] = await self._why(run, command.step_id, principal, kind)
        title, step_title = context["title"], context["step_title"]
        if kind == "reminder":
            subject = f"Reminder: {title}: {step_title} still waits for you"
            template = "reminder"
        elif context["link_kind"] == "input":
            prefix = "Delegated: " if kind == "delegated" else ""
            subject = f"{prefix}{title}: please fill in {step_title}"
            template = "input_request"
        else:
            prefix = {"escalated": "Escalated: ", "delegated": "Delegated: "}.get(kind, "")
            subject = f"{prefix}{title}: approval needed ({step_title})"
            template = "approval_request"
        to = address or email_address(principal) or principal
        sent = await self._send(template, to, subject, command.key, context)
        if sent is not None:
            await self._shown(run, command.step_id, principal, sent, context)

    async def _shown(
        self,
        run: RunState,
        step_id: str,
        principal: str,
        sent: EmailMessage,
        context: dict[str, Any],
    ) -> None:
        """Record the request mail as its recipient reads it: the plain-text body and the HTML
        part (what most mail programs display), each signed link replaced by its name (a link's
        token is never recorded), the HTML's own hash beside it, and the subject."""
        if self._record_shown is None:
            return
        links = {k: str(v) for k, v in context.items() if k.endswith("_url") and v}
        html = redact_html_links(_part(sent, "html"), links)
        shown = Shown(
            step_id=step_id,
            recipient=principal,
            channel="email",
            surface="email",
            text=redact_links(_part(sent, "plain"), links).strip(),
            fields={
                "subject": str(sent["Subject"]),
                "to": str(sent["To"]),
                "html": html,
                "html_sha256": part_hash(html),
            },
        )
        try:
            await self._record_shown(run.tenant_id, run.run_id, [shown])
        except EngineError as exc:  # e.g. the run is gone; an outage fails the command instead
            log.warning("could not record the mail shown on run %s: %s", run.run_id, exc)

    async def _request_context(
        self, run: RunState, step_id: str, key: str, principal: str
    ) -> dict[str, Any]:
        """What a mail asking `principal` to act on `step_id` shows, with its signed links."""
        stored = await self._load_definition(run.tenant_id, run.workflow, run.version)
        definition = stored.definition
        spec = definition.step(step_id)
        now = self._clock.now()
        step = run.steps[step_id]
        kind: Any = "input" if step.type == "input" else "approval"
        claims = ApprovalClaims(
            tenant_id=run.tenant_id,
            run_id=run.run_id,
            step_id=step_id,
            principal=principal,
            kind=kind,
            nonce=approval_nonce(key, principal),
            expires_at=now + self._config.link_ttl,
        )
        since = waiting_since(step)
        return {
            "run": run,
            "title": definition.title or definition.name,
            "step_title": step_title(definition, run, step_id),
            "message": step_message(spec, run),
            "inputs": input_rows(definition, run.inputs),
            "link_kind": kind,
            "kind": "request",
            "note": "",
            "waited": span(now - since) if since else "",
            "form_url": self._signer.approval_url(claims),
            "approve_url": self._signer.approval_url(claims, "approve"),
            "reject_url": self._signer.approval_url(claims, "reject"),
            "expires_at": claims.expires_at.strftime("%Y-%m-%d %H:%M UTC"),
            "dashboard_url": self._signer.sign_in_url(
                run.tenant_id, principal, now, self._config.link_ttl
            ),
        }

    async def _why(self, run: RunState, step_id: str, principal: str, kind: str) -> str:
        """Why a request came to `principal`: the escalation (whose time ran out, after how
        long) or the hand-over (delegated by whom, or for whom while they are away)."""
        step = run.steps[step_id]
        handed = step.acting_for(principal)
        if handed is not None and kind in ("delegated", "request", "reminder"):
            return f"This request is {delegation_note(handed)}."
        if kind != "escalated":
            return ""
        since = waiting_since(step)
        waited = span(self._clock.now() - since) if since else ""
        reason = step.escalation_reason
        if not reason:
            before = await self._earlier_approvers(run, step_id, step.escalation_level)
            who = f" from {', '.join(before)}" if before else ""
            reason = f"no decision came in time{who}"
        return (
            f"It was escalated to you (level {step.escalation_level}): {reason}. "
            f"It has waited {waited} since it was first requested."
        )

    async def _earlier_approvers(self, run: RunState, step_id: str, level: int) -> list[str]:
        if self._load_timeline is None:
            return []
        found: list[str] = []
        for record in await self._load_timeline(run.tenant_id, run.run_id):
            e = record.event
            if isinstance(e, ev.ApprovalRequested) and e.step_id == step_id:
                if e.escalation_level == level - 1:
                    found = list(e.approvers)
            elif isinstance(e, ev.StepEscalated) and e.step_id == step_id and e.level == level - 1:
                found = list(e.approvers)
        return found

    async def _question_mail(self, command: Command, to: str) -> None:
        """An `ask_question` to the requester (with an answer link) or an `answer_delivered`
        to the approver who asked (with fresh links to decide now)."""
        run = await self._run(command.tenant_id, command.run_id)
        step_id = str(getattr(command, "step_id", ""))
        step = run.steps.get(step_id)
        qid = str(getattr(command, "question_id", ""))
        found = next((q for q in step.questions if q.id == qid), None) if step else None
        if step is None or found is None:
            return  # nothing left to ask about
        principal = str(getattr(command, "to", f"email:{to}"))
        stored = await self._load_definition(run.tenant_id, run.workflow, run.version)
        title = stored.definition.title or stored.definition.name
        context: dict[str, Any] = {
            "run": run,
            "title": title,
            "step_title": step_title(stored.definition, run, step_id),
            "question": found,
        }
        if _kind(command) == "ask_question":
            if found.answer is not None or step.status != "waiting":
                return  # answered or decided meanwhile
            expires = self._clock.now() + self._config.link_ttl
            claims = AnswerClaims(
                tenant_id=run.tenant_id,
                run_id=run.run_id,
                step_id=step_id,
                question_id=qid,
                principal=principal,
                nonce=approval_nonce(command.key, principal),
                expires_at=expires,
            )
            context["answer_url"] = self._signer.answer_url(claims)
            context["expires_at"] = expires.strftime("%Y-%m-%d %H:%M UTC")
            subject = f"{title}: a question about your request"
            await self._send("question", to, subject, command.key, context)
            return
        context["decide"] = None
        if step.status == "waiting" and principal in step.approvers:
            context["decide"] = await self._request_context(run, step_id, command.key, principal)
        subject = f"{title}: your question was answered ({context['step_title']})"
        await self._send("answer", to, subject, command.key, context)

    async def _step_outcome(self, command: UpdateApproval) -> None:
        """Once a step is decided, tell its email approvers how it ended; while it waits, tell
        the email approvers it moved away from (escalated past them, or reassigned by an admin)
        that they no longer need to act — their links stop working."""
        run = await self._run(command.tenant_id, command.run_id)
        step = run.steps.get(command.step_id)
        if step is not None and step.status == "waiting":
            await self._moved_on(run, command.step_id)
        if step is None or step.outcome is None:
            return
        for principal in step.approvers:
            to = email_address(principal)
            if to:
                headline = f"Step {step.id} was {step.outcome}"
                # Keyed by step, not command: a decision may refresh the step more than once.
                key = f"{run.run_id}/{step.id}/outcome"
                await self._send_outcome(key, run, to, headline, step.votes)

    async def _moved_on(self, run: RunState, step_id: str) -> None:
        step = run.steps[step_id]
        moved: list[tuple[str, str, str]] = []  # (principal, why, mail key)
        for d in step.delegations:
            if d.kind == "reassign" and d.from_ not in step.approvers:
                why = f"{d.by} reassigned it to {d.to}."
                moved.append(
                    (d.from_, why, f"{run.run_id}/{step_id}/reassigned/{d.at.timestamp()}")
                )
        if step.escalation_level > 0:
            why = f"It was escalated to {', '.join(step.approvers)}"
            why += f": {step.escalation_reason}." if step.escalation_reason else "."
            key = f"{run.run_id}/{step_id}/escalated/{step.escalation_level}"
            for p in await self._earlier_approvers(run, step_id, step.escalation_level):
                if p not in step.approvers:
                    moved.append((p, why, key))
        if not moved:
            return
        stored = await self._load_definition(run.tenant_id, run.workflow, run.version)
        shown = step_title(stored.definition, run, step_id)
        title = stored.definition.title or stored.definition.name
        for principal, why, key in moved:
            to = email_address(principal)
            if to:
                context = {"run": run, "title": title, "step_title": shown}
                context["why"] = why
                subject = f"{title}: {shown} no longer waits for you"
                await self._send("moved", to, subject, key, context)

    async def _send_outcome(
        self, key: str, run: RunState, to: str, headline: str, votes: Any = ()
    ) -> None:
        stored = await self._load_definition(run.tenant_id, run.workflow, run.version)
        await self._send(
            "outcome",
            to,
            f"{run.workflow}: {headline.lower()}",
            key,
            {
                "run": run,
                "title": run.workflow,
                "message": "",
                "inputs": input_rows(stored.definition, run.inputs),
                "headline": headline,
                "votes": list(votes),
                "run_url": f"{self._config.base_url}/runs/{run.run_id}",
            },
        )

    async def _send(
        self, template: str, to: str, subject: str, key: str, context: dict[str, Any]
    ) -> EmailMessage | None:
        """Send one mail; returns it, or None when it was already sent (a retried command)."""
        if not await self._guard.claim(key, to):
            return None
        run = context.get("run")
        if isinstance(run, RunState) and run.summary:  # which of a workflow's runs it is about
            subject = f"{subject} · {one_line(run.summary, SUBJECT_SUMMARY)}"
        try:
            message = render_mail(
                template,
                to=to,
                sender=self._config.mail_from,
                subject=subject,
                key=key,
                context=context,
            )
            await self._sender.send(message)
        except BaseException:
            await self._guard.release(key, to)
            raise
        await self._guard.sent(key, to)
        return message


def _part(message: EmailMessage, subtype: str) -> str:
    """The content of the message's `text/<subtype>` part ("" when it has none)."""
    body = message.get_body((subtype,))
    return str(body.get_content()) if isinstance(body, EmailMessage) else ""
