"""What a card says about how a request moved and what it waits for: delegations, out-of-office,
escalations, questions to the requester, and the short nudges posted under a card.

Pure text builders (already-escaped mrkdwn) from a step's state; the cards place them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement

from bot.blocks import ids
from bot.blocks.kit import MESSAGE_BLOCKS, context, escape, fit, mention, section, truncate, when
from engine import (
    Delegation,
    RunState,
    StepState,
    TaskSla,
    WorkflowDefinition,
    principal,
    step_title,
)


def span(delta: timedelta) -> str:
    """A length of time in the two largest units: "2d 3h", "3h 20m", "5m", "under a minute"."""
    seconds = int(delta.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(parts[:2]) or "under a minute"


def _given(d: Delegation) -> str:
    """How `d.to` came to have the request, as said to them."""
    why = f": {escape(d.reason)}" if d.reason else ""
    if d.kind == "away":
        return f":palm_tree: You act for {mention(d.from_)}, who is away{why}."
    if d.kind == "reassign":
        by = mention(d.by)
        return f":arrows_counterclockwise: Reassigned to you from {mention(d.from_)} by {by}{why}."
    return f":handshake: Delegated to you by {mention(d.by)}{why}."


def _taken(d: Delegation) -> str:
    """How the request left `d.from_`, as said to them."""
    if d.kind == "away":
        return f"Sent to {mention(d.to)} while you are away."
    if d.kind == "reassign":
        return f"Reassigned to {mention(d.to)} by {mention(d.by)}. Nothing more for you to do."
    return f"You delegated this to {mention(d.to)}. Nothing more for you to do."


def with_mentions(text: str) -> str:
    """Engine text (e.g. "no decision within 2h from U1, U2") escaped, its user ids as mentions."""
    return principal.replace_user_ids(escape(text), lambda user: f"<@{user}>")


def escalated_to_you(step: StepState) -> str:
    reason = step.escalation_reason
    why = with_mentions(reason) if reason else "nobody decided in time"
    line = f":rotating_light: *Escalated to you* (level {step.escalation_level}): {why}."
    if step.requested_at and step.escalated_at:
        waited = span(step.escalated_at - step.requested_at)
        line += f" It had waited {waited} since it was first asked {when(step.requested_at)}."
    return line


def handoff_lines(step: StepState, principal: str, shared_in: str | None = None) -> list[str]:
    """Lines for `principal`'s card ("" is a channel's shared card): how the request came to
    them, or where it went (`shared_in`: the channel the current level is asked in)."""
    lines: list[str] = []
    if not principal:
        if step.escalation_level > 0:
            lines.append(escalated_to_you(step))
        return lines
    if principal in step.approvers:
        given = step.acting_for(principal)
        if given is not None:
            lines.append(_given(given))
        elif step.escalation_level > 0:
            lines.append(escalated_to_you(step))
        return lines
    taken = next((d for d in reversed(step.delegations) if d.from_ == principal), None)
    if taken is not None:
        lines.append(_taken(taken))
    elif step.escalation_level > 0:
        who = (
            mention(shared_in)
            if shared_in
            else (", ".join(mention(a) for a in step.approvers) or "the next approvers")
        )
        why = f" ({with_mentions(step.escalation_reason)})" if step.escalation_reason else ""
        lines.append(f":arrow_up: Escalated to {who}{why}. Nothing more for you to do.")
    return lines


def handoff_buttons(ref: str, *, ask: bool = True) -> list[ButtonElement]:
    """Ask the requester (unless `ask` is False), or hand the request to someone else: the same
    buttons on a card and on an App Home row, so both reach the same handlers and modals."""
    buttons = [ButtonElement(text="Delegate", action_id=ids.DELEGATE, value=ref)]
    if ask:
        buttons.insert(0, ButtonElement(text="Ask for info", action_id=ids.ASK, value=ref))
    return buttons


def question_lines(step: StepState) -> list[str]:
    """Each question to the requester and its answer (or that it waits, and what is paused)."""
    lines = []
    for q in step.questions:
        lines.append(f":question: {mention(q.by)} asked {mention(q.to)}: {escape(q.text)}")
        if q.answer is not None:
            by = mention(q.answered_by or q.to)
            at = f" {when(q.answered_at)}" if q.answered_at else ""
            lines.append(f":speech_balloon: {by} answered{at}: {escape(q.answer)}")
        else:
            paused = " Reminders and the timeout are paused until then." if step.paused else ""
            lines.append(f"_Waiting for {mention(q.to)}'s answer._{paused}")
    return lines


def nudge(step: StepState, kind: str, who: str, now: datetime) -> str | None:
    """The short message posted under `who`'s card for a reminder, an escalation or a
    delegation (None for a first request)."""
    if kind == "reminder":
        since = step.requested_at or step.started_at
        waited = f" It has waited {span(now - since)}." if since else ""
        count = step.reminded.get(who, 0)
        which = f" {count}" if count > 1 else ""
        return f":bell: Reminder{which}: this still waits on you.{waited}"
    if kind == "escalated":
        return escalated_to_you(step)
    if kind == "delegated":
        given = step.acting_for(who)
        return _given(given) if given else "This request was handed to you."
    return None


def question_message(
    run: RunState, definition: WorkflowDefinition, step_id: str, question_id: str
) -> tuple[str, list[Block]]:
    """The requester's message carrying an approver's question: with an Answer button until
    it is answered, then the answer."""
    step = run.steps[step_id]
    q = next(q for q in step.questions if q.id == question_id)
    workflow = escape(definition.title or run.workflow)
    title = escape(step_title(definition, run, step_id))
    blocks: list[Block] = [
        section(
            f":question: {mention(q.by)} has a question about your *{workflow}* request "
            f"(step *{title}*, run `{escape(run.run_id)}`):\n>{escape(q.text)}"
        )
    ]
    keep = 0
    if q.answer is not None:
        at = f" {when(q.answered_at)}" if q.answered_at else ""
        blocks.append(context(f":speech_balloon: Answered{at}: {escape(q.answer)}"))
    elif step.status != "waiting":
        blocks.append(context("The request was closed before an answer; nothing to do."))
    else:
        ref = ids.QuestionRef(run.run_id, step_id, question_id).value()
        blocks.append(
            ActionsBlock(
                block_id="answer",
                elements=[
                    ButtonElement(text="Answer", action_id=ids.ANSWER, value=ref, style="primary")
                ],
            )
        )
        keep = 1
    text = truncate(f"{q.by} asks about your {definition.title or run.workflow} request", 4000)
    return text, fit(blocks, MESSAGE_BLOCKS, keep_last=keep)


def answer_note(q_text: str, answer: str, by: str) -> str:
    """Posted under the asker's card when the requester answers."""
    asked = f" ({escape(q_text)})" if q_text else ""
    return f":speech_balloon: {mention(by)} answered your question{asked}: {escape(answer)}"


def sla_line(sla: TaskSla, now: datetime) -> str:
    """How long a task has waited and what happens next (App Home)."""
    parts = [f":stopwatch: waiting {span(now - sla.waiting_since)}"]
    if sla.escalation_level:
        parts.append(f"escalated (level {sla.escalation_level})")
    if sla.paused:
        question = f": {escape(sla.open_question)}" if sla.open_question else ""
        parts.append(f"*paused: question open*{question}")
    else:
        if sla.next_reminder_at:
            parts.append(f"next reminder {when(sla.next_reminder_at)}")
        if sla.escalates_at:
            parts.append(f"escalates {when(sla.escalates_at)}")
        if sla.times_out_at:
            parts.append(f"times out {when(sla.times_out_at)}")
    return " · ".join(parts)
