"""Questions to the requester (which may pause the step's timers) and comments on a run."""

from __future__ import annotations

from engine import commands as cmd
from engine import events as ev
from engine.decider import deadlines
from engine.decider.context import Builder
from engine.definitions.models import ApprovalStep, InputStep
from engine.errors import InvalidInput, NotAllowed, NotFound, StepNotPending
from engine.forms import value_problem
from engine.triggers import Answer, Ask, Comment

MAX_TEXT = 3000
HumanStep = ApprovalStep | InputStep


def _text(text: str, what: str) -> str:
    clean = text.strip()
    if not clean:
        raise InvalidInput({"text": f"write the {what}"})
    if len(clean) > MAX_TEXT:
        raise InvalidInput({"text": f"the {what} is {len(clean)} characters; at most {MAX_TEXT}"})
    problem = value_problem(clean)
    if problem is not None:
        raise InvalidInput({"text": f"the {what} {problem}"})
    return clean


def ask(b: Builder, step: HumanStep, trigger: Ask) -> None:
    """An approver (or the assignee) asks the requester (checked: the step is waiting)."""
    state = b.step(step.id)
    if trigger.actor not in state.approvers:
        role = "an approver" if isinstance(step, ApprovalStep) else "the assignee"
        code = "not_approver" if isinstance(step, ApprovalStep) else "not_assignee"
        raise NotAllowed(f"you are not {role} of this step", code=code)
    if any(v.actor == trigger.actor for v in state.votes):
        raise NotAllowed("you have already decided on this step", code="already_voted")
    to = b.state.requester
    if to == trigger.actor:
        raise NotAllowed("you started this run: there is nobody to ask", code="own_request")
    text = _text(trigger.text, "question")
    question_id = f"q{len(state.questions) + 1}"
    pauses = step.pause_on_question
    if pauses:
        deadlines.pause(b, step.id)
    b.emit(
        ev.QuestionAsked(
            at=b.now,
            step_id=step.id,
            question_id=question_id,
            by=trigger.actor,
            to=to,
            text=text,
            channel=trigger.channel,
            pauses=pauses,
        )
    )
    run = b.state
    b.command(
        cmd.AskQuestion(
            key=f"{run.run_id}:{step.id}:ask:{question_id}",
            tenant_id=run.tenant_id,
            run_id=run.run_id,
            step_id=step.id,
            question_id=question_id,
            to=to,
            by=trigger.actor,
            text=text,
        )
    )
    b.update_approval(step.id)


def answer(b: Builder, step: HumanStep, trigger: Answer) -> None:
    """The requester answers; when no other question holds the step, its timers resume with the
    time that was left."""
    state = b.step(step.id)
    question = next((q for q in state.questions if q.id == trigger.question_id), None)
    if question is None:
        raise NotFound(f"step {step.id} has no question {trigger.question_id!r}")
    text = _text(trigger.text, "answer")
    if question.answer is not None:
        if question.answer == text and question.answered_by == trigger.actor:
            return  # the same answer delivered again
        raise StepNotPending(f"question {question.id} was already answered")
    if trigger.actor != question.to:
        raise NotAllowed(f"only {question.to}, who was asked, can answer this question")
    if state.status != "waiting":
        raise StepNotPending(f"step {step.id} is no longer waiting; the answer would go nowhere")
    others = [q for q in state.questions if q.answer is None and q.pauses and q.id != question.id]
    due = deadlines.resumed(b, step) if state.paused and not others else None
    b.emit(
        ev.QuestionAnswered(
            at=b.now,
            step_id=step.id,
            question_id=question.id,
            by=trigger.actor,
            text=text,
            channel=trigger.channel,
            deadlines=due,
        )
    )
    run = b.state
    b.command(
        cmd.AnswerDelivered(
            key=f"{run.run_id}:{step.id}:answer:{question.id}",
            tenant_id=run.tenant_id,
            run_id=run.run_id,
            step_id=step.id,
            question_id=question.id,
            to=question.by,
            by=trigger.actor,
            text=text,
        )
    )
    b.update_approval(step.id)
    deadlines.arm(b, step.id)


def comment(b: Builder, trigger: Comment) -> None:
    if trigger.step_id is not None and trigger.step_id not in b.state.steps:
        raise NotFound(f"this workflow has no step {trigger.step_id!r}")
    b.emit(
        ev.CommentAdded(
            at=b.now,
            step_id=trigger.step_id,
            actor=trigger.actor,
            text=_text(trigger.text, "comment"),
            channel=trigger.channel,
        )
    )
