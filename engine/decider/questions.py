"""Questions to the requester (which may pause the step's timers) and comments on a run."""

from __future__ import annotations

from engine import commands as cmd
from engine import events as ev
from engine.decider import deadlines
from engine.decider.context import Builder
from engine.definitions.models import ApprovalStep, InputStep
from engine.errors import InvalidInput, NotAllowed, NotFound, StepNotPending
from engine.forms import value_problem
from engine.state import Question
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


def check_ask(b: Builder, step: HumanStep, actor: str) -> None:
    """Refuse a question from anyone but a step's approver (or assignee) who has not decided
    yet and did not start the run (checked by the caller: the step is waiting)."""
    state = b.step(step.id)
    if actor not in state.approvers:
        role = "an approver" if isinstance(step, ApprovalStep) else "the assignee"
        code = "not_approver" if isinstance(step, ApprovalStep) else "not_assignee"
        raise NotAllowed(f"you are not {role} of this step", code=code, step=step.id)
    if any(v.actor == actor for v in state.votes):
        raise NotAllowed(
            "you have already decided on this step", code="already_voted", step=step.id
        )
    if b.state.requester == actor:
        raise NotAllowed("you started this run: there is nobody to ask", code="own_request")


def ask(b: Builder, step: HumanStep, trigger: Ask) -> None:
    """An approver (or the assignee) asks the requester (checked: the step is waiting)."""
    state = b.step(step.id)
    check_ask(b, step, trigger.actor)
    to = b.state.requester
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
    question = _question(b, step, trigger.question_id)
    text = _text(trigger.text, "answer")
    if question.answer == text and question.answered_by == trigger.actor:
        return  # the same answer delivered again
    check_answer(b, step, trigger.question_id, trigger.actor)
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


def _question(b: Builder, step: HumanStep, question_id: str) -> Question:
    found = next((q for q in b.step(step.id).questions if q.id == question_id), None)
    if found is None:
        raise NotFound(f"step {step.id} has no question {question_id!r}")
    return found


def check_answer(b: Builder, step: HumanStep, question_id: str, actor: str) -> None:
    """Refuse an answer to a question answered already, by anyone but who was asked, or when
    the step no longer waits."""
    question = _question(b, step, question_id)
    if question.answer is not None:
        raise StepNotPending(
            f"question {question.id} was already answered",
            code="already_answered",
            step=step.id,
            by=question.answered_by,
        )
    if actor != question.to:
        raise NotAllowed(
            f"only {question.to}, who was asked, can answer this question",
            code="not_asked",
            step=step.id,
            to=question.to,
        )
    state = b.step(step.id)
    if state.status != "waiting":
        raise StepNotPending(
            f"step {step.id} is no longer waiting; the answer would go nowhere",
            code="closed",
            step=step.id,
            status=state.outcome or state.status,
        )


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
