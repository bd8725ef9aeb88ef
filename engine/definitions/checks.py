"""Checks across a whole definition, after its shape has validated: ids, templates, references.

Steps run in order, so a step may read only the steps before it; reading itself or a later step
is the one way a definition could form a cycle, and it is rejected here, when the definition is
saved, rather than when a run reaches it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import Any

from pydantic import TypeAdapter, ValidationError

# As a module: engine.forms imports the models of this package, so its names are read at call time.
from engine import forms, principal, schedules, templates
from engine.definitions.models import (
    MAX_TEMPLATE_EXPRESSIONS,
    MAX_TEMPLATE_TEXT,
    ApprovalStep,
    EscalationLevel,
    FormField,
    HttpAction,
    HttpStep,
    InputStep,
    NotifyStep,
    SignalStep,
    Step,
    WaitStep,
    WorkflowDefinition,
)
from engine.errors import DefinitionIssue, InvalidInput

_APPROVERS: tuple[principal.Kind, ...] = ("user", "email", "group")
_LEVEL: tuple[principal.Kind, ...] = (*_APPROVERS, "channel")  # a lone escalation level
_NOTIFIED: tuple[principal.Kind, ...] = ("user", "email", "channel")
_RUN_KEYS = ("id", "workflow", "version", "requester")
_ROOTS = ("inputs", "steps", "run", "requester")


class _Templates:
    """The templates of one definition, counted as they are checked: past the limits the rest
    are not parsed, so a definition made to be slow to check is refused quickly."""

    def __init__(self) -> None:
        self.chars = self.expressions = 0
        self.stopped_at: str | None = None

    def admit(self, field: str, text: str) -> bool:
        """Whether to parse this template: not once the totals have passed a limit."""
        if self.stopped_at is None:
            self.chars += len(text)
            if self.chars > MAX_TEMPLATE_TEXT:
                self.stopped_at = field
        return self.stopped_at is None

    def parsed(self, field: str, found: templates.Analysis) -> None:
        self.expressions += found.expressions
        if self.expressions > MAX_TEMPLATE_EXPRESSIONS:
            self.stopped_at = field

    def issues(self) -> list[DefinitionIssue]:
        if self.stopped_at is None:
            return []
        where = "; the checks stopped here"
        if self.chars > MAX_TEMPLATE_TEXT:
            return [
                _at(
                    self.stopped_at,
                    f"the templates of this workflow are over {MAX_TEMPLATE_TEXT:,} characters "
                    f"in all{where}",
                )
            ]
        return [
            _at(
                self.stopped_at,
                f"the templates of this workflow have over {MAX_TEMPLATE_EXPRESSIONS:,} "
                f"expressions ({{{{ }}}} and {{% %}}) in all{where}",
            )
        ]


def check_definition(
    defn: WorkflowDefinition, secret_names: Collection[str] | None = None
) -> list[DefinitionIssue]:
    """Every cross-field problem in the definition (empty when it is sound). `secret_names`: the
    secrets the definition's workspace has; a template naming any other is refused (None: the
    workspace is not known, as in `workflows validate`, and secret names are not checked)."""
    issues: list[DefinitionIssue] = []
    issues += _unique([s.id for s in defn.steps], "steps", "step id")
    issues += _form_fields(defn.inputs, "inputs", decision_form=False)
    seen_signals: dict[str, str] = {}
    for index, step in enumerate(defn.steps):
        if not isinstance(step, SignalStep):
            continue
        name = step.name or step.id
        if name in seen_signals:
            issues.append(
                _at(
                    f"steps.{index}.name",
                    f"signal {name!r} is already used by step {seen_signals[name]!r}",
                )
            )
        seen_signals.setdefault(name, step.id)
    counted = _Templates()
    for index, step in enumerate(defn.steps):
        issues += _step(defn, index, step, secret_names, counted)
    issues += counted.issues()
    issues += _schedule(defn)
    issues += _summary(defn)
    issues += _outputs(defn)
    return issues


def _outputs(defn: WorkflowDefinition) -> list[DefinitionIssue]:
    """Outputs are rendered when the run has ended: they may read every step."""
    issues = _unique([o.id for o in defn.outputs], "outputs", "output id")
    for index, output in enumerate(defn.outputs):
        field = f"outputs.{index}.value"
        found = templates.analyze(output.value, expression=False)
        readable = len(defn.steps)
        issues += _template(defn, "outputs", readable, field, found, False, False, None)
    return issues


def _summary(defn: WorkflowDefinition) -> list[DefinitionIssue]:
    """The summary is rendered when a run starts: it may read inputs, run and requester."""
    if defn.summary is None:
        return []
    found = templates.analyze(defn.summary, expression=False)
    if any(root == "steps" for root, _ in found.references):
        return [_at("summary", "the summary is rendered when the run starts, before any step")]
    return _template(defn, "summary", 0, "summary", found, False, False, None)


_STEP: TypeAdapter[Step] = TypeAdapter(Step)


def check_parts(data: Mapping[str, Any]) -> list[DefinitionIssue]:
    """The checks of the steps that are sound by themselves, in a definition that is not sound
    as a whole (its shape errors come from validation): references, templates, principals."""
    raw_steps = data.get("steps")
    raw_inputs = data.get("inputs")
    steps: list[Any] = raw_steps if isinstance(raw_steps, list) else []
    ids = [_raw_id(s, f"#{i}") for i, s in enumerate(steps)]
    input_ids = [_raw_id(f, "") for f in (raw_inputs if isinstance(raw_inputs, list) else [])]
    valid: list[tuple[int, Step]] = []
    for index, raw in enumerate(steps):
        try:
            valid.append((index, _STEP.validate_python(raw)))
        except ValidationError:
            continue
    # Stand-ins for what did not validate: only their ids are read, to resolve references.
    known: list[Any] = [SignalStep.model_construct(id=i, type="signal") for i in ids]
    for index, step in valid:
        known[index] = step
    fields = [FormField.model_construct(id=i) for i in input_ids if i]
    defn = WorkflowDefinition.model_construct(name="", inputs=fields, steps=known)
    issues = _unique([i for i in ids if not i.startswith("#")], "steps", "step id")
    counted = _Templates()
    for index, step in valid:
        issues += _step(defn, index, step, None, counted)
    return issues + counted.issues()


def _raw_id(item: Any, default: str) -> str:
    value = item.get("id") if isinstance(item, Mapping) else None
    return value if isinstance(value, str) else default


def _schedule(defn: WorkflowDefinition) -> list[DefinitionIssue]:
    """The schedule's expression and zone, and its inputs against the workflow's start form (a
    scheduled start has nobody to ask for a missing value)."""
    if defn.schedule is None:
        return []
    issues = [
        _at(f"schedule.{field}" if field else "schedule", message)
        for field, message in schedules.problems(defn.schedule)
    ]
    try:
        forms.validate_values(defn.inputs, defn.schedule.inputs)
    except InvalidInput as exc:
        issues += [_at(f"schedule.inputs.{key}", why) for key, why in exc.errors.items()]
    try:
        principal.parse(defn.schedule.requester, ("user", "email", "system"))
    except principal.PrincipalError as exc:
        issues.append(_at("schedule.requester", exc.message))
    return issues


def _at(field: str, message: str) -> DefinitionIssue:
    return DefinitionIssue(field=field, message=message)


def _unique(ids: list[str], where: str, what: str) -> list[DefinitionIssue]:
    first: dict[str, int] = {}
    issues = []
    for index, value in enumerate(ids):
        if value in first:
            issues.append(
                _at(
                    f"{where}.{index}.id",
                    f"duplicate {what} {value!r} (also {where}.{first[value]})",
                )
            )
        first.setdefault(value, index)
    return issues


def _form_fields(
    fields: list[FormField], path: str, *, decision_form: bool
) -> list[DefinitionIssue]:
    issues = _unique([f.id for f in fields], path, "input id" if path == "inputs" else "field id")
    for index, field in enumerate(fields):
        where = f"{path}.{index}"
        if field.type in ("select", "multiselect") and not field.options:
            issues.append(_at(f"{where}.options", f"a {field.type} field needs options"))
        elif field.options and field.type not in ("select", "multiselect"):
            issues.append(_at(f"{where}.options", "options apply to select and multiselect only"))
        if (field.min is not None or field.max is not None) and field.type != "number":
            key = "min" if field.min is not None else "max"
            issues.append(_at(f"{where}.{key}", "min and max apply to number fields only"))
        if field.min is not None and field.max is not None and field.min > field.max:
            issues.append(_at(f"{where}.min", f"min ({field.min:g}) is above max ({field.max:g})"))
        if field.required_on is not None and not decision_form:
            issues.append(
                _at(f"{where}.required_on", "required_on applies only to an approval step's fields")
            )
        if field.default is not None:
            try:
                forms.coerce_value(field, field.default)
            except ValueError as exc:
                issues.append(_at(f"{where}.default", f"default does not fit the field: {exc}"))
    return issues


def _step(
    defn: WorkflowDefinition,
    index: int,
    step: Step,
    secret_names: Collection[str] | None,
    counted: _Templates,
) -> list[DefinitionIssue]:
    where = f"steps.{index}"
    issues: list[DefinitionIssue] = []
    if isinstance(step, ApprovalStep):
        issues += _approval(step, where)
        issues += _form_fields(step.fields, f"{where}.fields", decision_form=True)
    if isinstance(step, InputStep):
        issues += _form_fields(step.fields, f"{where}.fields", decision_form=False)
        if step.assignee != "requester":
            issues += _principal(step.assignee, f"{where}.assignee", kinds=principal.PEOPLE)
        issues += _reminders(step, where)
    if isinstance(step, NotifyStep) and step.to != "requester":
        issues += _principal(step.to, f"{where}.to", kinds=_NOTIFIED)
    if isinstance(step, WaitStep) and (step.duration is None) == (step.until is None):
        issues.append(_at(where, "a wait step needs exactly one of duration or until"))
    if isinstance(step, HttpStep):
        issues += _http(step, where)
    compensate = getattr(step, "compensate", None)
    if isinstance(compensate, HttpAction):
        issues += _http(compensate, f"{where}.compensate")
    for field, text, expression, secrets in _templated(step, where):
        # A compensation runs after its step completed, so it may read the step's own output.
        readable = index + 1 if ".compensate." in field else index
        if not expression and not templates.is_template(text):
            continue  # plain text: nothing to parse or resolve
        if counted.admit(field, text):
            found = templates.analyze(text, expression=expression)
            counted.parsed(field, found)
            issues += _template(
                defn, step.id, readable, field, found, expression, secrets, secret_names
            )
    return issues


def _approval(step: ApprovalStep, where: str) -> list[DefinitionIssue]:
    issues: list[DefinitionIssue] = []
    names = [principal.canonical(a) for a in step.approvers]
    for i, approver in enumerate(step.approvers):
        issues += _principal(approver, f"{where}.approvers.{i}", kinds=_APPROVERS)
        if names[i] in names[:i]:
            issues.append(_at(f"{where}.approvers.{i}", f"{approver!r} is listed twice"))
    if not isinstance(step.policy, str):
        literal = {n for n in names if principal.is_kind(n, *principal.PEOPLE)}
        if len(literal) == len(set(names)) and step.policy.n > len(literal):
            issues.append(
                _at(
                    f"{where}.policy.n",
                    f"the policy needs {step.policy.n} approvals but only {len(literal)} "
                    "approvers are listed",
                )
            )
    for i, level in enumerate(step.escalate_to):
        entries = list(_level_entries(level, f"{where}.escalate_to.{i}"))
        if not entries:
            issues.append(_at(f"{where}.escalate_to.{i}", "an escalation level needs approvers"))
        for field, entry, single in entries:
            issues += _principal(entry, field, kinds=_LEVEL if single else _APPROVERS)
    if step.on_timeout == "escalate" and not step.escalate_to:
        issues.append(_at(f"{where}.on_timeout", "on_timeout: escalate needs escalate_to"))
    if step.escalate_to and step.on_timeout != "escalate":
        issues.append(
            _at(f"{where}.escalate_to", "escalate_to is used only with on_timeout: escalate")
        )
    # Checked on values, not on which keys were written, so a canonical dump (every default
    # written out) loads the same as the file it came from.
    if step.on_timeout != "fail" and step.timeout is None:
        issues.append(_at(f"{where}.on_timeout", f"on_timeout: {step.on_timeout} needs a timeout"))
    if step.channel is not None and not (_is_template(step.channel) or _is_channel(step.channel)):
        issues.append(_at(f"{where}.channel", "expected a channel like #finance or C0123ABCD"))
    return issues + _reminders(step, where)


def _level_entries(
    level: list[str] | str | EscalationLevel, where: str
) -> Iterator[tuple[str, str, bool]]:
    """(field, approver spec, is a lone entry that may be a channel) of one escalation level."""
    if isinstance(level, EscalationLevel):
        where, level = f"{where}.approvers", level.approvers
    if isinstance(level, str):
        yield where, level, True
        return
    for j, entry in enumerate(level):
        yield f"{where}.{j}", entry, False


def _reminders(step: ApprovalStep | InputStep, where: str) -> list[DefinitionIssue]:
    if step.remind_every is None:
        return []
    if step.max_reminders == 0:
        return [_at(f"{where}.remind_every", "remind_every is set but max_reminders is 0")]
    if step.timeout is not None and step.remind_every.seconds >= step.timeout.seconds:
        return [
            _at(
                f"{where}.remind_every",
                f"remind_every ({step.remind_every}) is not shorter than the timeout "
                f"({step.timeout}), so no reminder would ever be sent",
            )
        ]
    return []


def _http(action: HttpAction, where: str) -> list[DefinitionIssue]:
    issues = []
    if not _is_template(action.url) and not action.url.startswith(("http://", "https://")):
        issues.append(
            _at(f"{where}.url", f"expected an http:// or https:// URL, got {action.url!r}")
        )
    for i, status in enumerate(action.expect):
        if not 100 <= status <= 599:
            issues.append(_at(f"{where}.expect.{i}", f"{status} is not an HTTP status (100-599)"))
    retry = action.retry
    if retry.initial_delay.seconds > retry.max_delay.seconds:
        issues.append(_at(f"{where}.retry.initial_delay", "initial_delay is longer than max_delay"))
    return issues


def _is_template(text: str) -> bool:
    return "{{" in text or "{%" in text


def _is_channel(text: str) -> bool:
    return principal.is_kind(text, "channel")


def _principal(
    value: str, field: str, *, kinds: tuple[principal.Kind, ...]
) -> list[DefinitionIssue]:
    if _is_template(value) or principal.is_kind(value, *kinds):
        return []
    expected = principal.expected(kinds, also="a template like '{{ inputs.manager }}'")
    return [_at(field, f"{value!r} is not {expected}")]


def _templated(step: Step, where: str) -> Iterator[tuple[str, str, bool, bool]]:
    """(field, text, is_expression, may_read_secrets) for every template in the step."""
    if step.when is not None:
        yield f"{where}.when", step.when, True, False
    for key in ("title", "message", "until", "assignee", "channel"):
        value = getattr(step, key, None)
        if isinstance(value, str):
            yield f"{where}.{key}", value, False, False
    if isinstance(step, NotifyStep):
        yield f"{where}.to", step.to, False, False
    if isinstance(step, ApprovalStep):
        for i, approver in enumerate(step.approvers):
            yield f"{where}.approvers.{i}", approver, False, False
        for i, level in enumerate(step.escalate_to):
            for field, entry, _single in _level_entries(level, f"{where}.escalate_to.{i}"):
                yield field, entry, False, False
    actions: list[tuple[str, HttpAction]] = [(where, step)] if isinstance(step, HttpStep) else []
    compensate = getattr(step, "compensate", None)
    if isinstance(compensate, HttpAction):
        actions.append((f"{where}.compensate", compensate))
    for base, action in actions:
        yield f"{base}.url", action.url, False, True
        for name, value in action.headers.items():
            yield f"{base}.headers.{name}", value, False, True
        for path, text in _strings(action.json_body, f"{base}.json"):
            yield path, text, False, True


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, f"{path}.{i}")


def _template(
    defn: WorkflowDefinition,
    step_id: str,
    readable: int,
    field: str,
    found: templates.Analysis,
    expression: bool,
    secrets: bool,
    secret_names: Collection[str] | None,
) -> list[DefinitionIssue]:
    if found.error is not None:
        kind = "condition" if expression else "template"
        return [_at(field, f"{kind} syntax error: {found.error}")]
    inputs = list(dict.fromkeys(f.id for f in defn.inputs))
    order = {s.id: i for i, s in enumerate(defn.steps)}
    issues = []
    for root, attr in sorted(found.references, key=lambda r: (r[0], r[1] or "")):
        if root == "secrets" and secrets:
            message = _secret(attr, secret_names)
        else:
            message = _reference(root, attr, step_id, readable, inputs, order, secrets)
        if message:
            issues.append(_at(field, message))
    return issues


def _secret(name: str | None, known: Collection[str] | None) -> str | None:
    # Read by name only: the whole mapping would let a template send (or try to change) every
    # secret of the workspace, and its names could not be checked here.
    if name is None:
        return "read a secret by its name, e.g. {{ secrets.ERP_TOKEN }}, not secrets as a whole"
    if known is not None and name not in known:
        have = ", ".join(sorted(known)) or "none"
        return (
            f"unknown secret {name!r}; this workspace's secrets: {have} "
            f"(add it with `countersign secrets set {name}`)"
        )
    return None


def _reference(
    root: str,
    attr: str | None,
    step_id: str,
    readable: int,
    inputs: list[str],
    order: dict[str, int],
    secrets: bool,
) -> str | None:
    if root == "inputs" and attr is not None and attr not in inputs:
        return f"unknown input {attr!r}; declared inputs: {', '.join(inputs) or 'none'}"
    if root == "steps" and attr is not None:
        if attr not in order:
            return f"unknown step {attr!r}; steps: {', '.join(order)}"
        if order[attr] >= readable:
            when = "its own output" if attr == step_id else "which runs later"
            return (
                f"step {step_id!r} reads steps.{attr}, {when}; a step can only read steps before it"
            )
    if root == "run" and attr is not None and attr not in _RUN_KEYS:
        return f"run has no {attr!r}; run has {', '.join(_RUN_KEYS)}"
    if root == "secrets" and not secrets:
        return "secrets can be used only in an http url, headers or json, never in messages"
    if root == "app" and not secrets:
        return "app can be used only in an http url, headers or json"
    if root == "app" and attr not in (None, "url"):
        return f"app has no {attr!r}; app has url"
    if root not in (*_ROOTS, "secrets", "app"):
        allowed = ", ".join(_ROOTS) + (", secrets, app" if secrets else "")
        return f"unknown name {root!r}; templates can read {allowed}"
    return None
