"""Countersign's pure domain: workflow definitions, the run decider and the ports it needs.

This package is the engine's public face: adapters (Slack, web, email, CLI) import what they
use from `engine`, not from its submodules. `EngineApi` is what they may ask of the engine;
`Engine` implements it and is built once, by the process setup (`cli.wiring`). The namespaces
`errors`, `events`, `commands`, `principal` and `templates` are public too. The in-memory
stores for tests are in `engine.testing`, which production code never imports.
"""

from engine import commands, errors, events, principal, templates
from engine.access import AccessStores, ApiKey, ApiKeyStore, WebSession, new_token
from engine.api import EngineApi
from engine.approvals import (
    APPROVAL_STEP,
    APPROVAL_WORKFLOW,
    COMMENT_FIELD,
    ApprovalStatus,
    approval_definition,
    asked_by,
    outcome_of,
    split_list,
)
from engine.audit.bundle import FORMAT as AUDIT_FORMAT
from engine.audit.bundle import BadBundle, BundleReport, load_bundle, sign_bundle, verify_bundle
from engine.audit.checkpoint import (
    PURGED,
    Checkpoint,
    checkpoint_problems,
    departures,
    make_checkpoint,
    parse_public_key,
    public_key_text,
    unpurged,
)
from engine.audit.merkle import merkle_root
from engine.audit.report import COLUMNS as AUDIT_REPORT_COLUMNS
from engine.audit.report import ReportRow, report_rows
from engine.away import Away
from engine.commands import (
    AnswerDelivered,
    AskQuestion,
    Command,
    RequestApproval,
    RequestInput,
    RunChanged,
    SendNotification,
    UpdateApproval,
)
from engine.decider.approval import render_specs
from engine.decider.context import template_context
from engine.definitions import load_definition
from engine.definitions.models import (
    ApprovalStep,
    FormField,
    InputStep,
    NOf,
    Option,
    WorkflowDefinition,
)
from engine.definitions.needs import needs_of
from engine.definitions.schema import json_schema
from engine.display import input_rows, one_line, step_title
from engine.durations import Duration
from engine.errors import (
    ConcurrencyConflict,
    DefinitionError,
    DuplicateRun,
    EngineError,
    IdempotencyConflict,
    InvalidInput,
    NotAllowed,
    NotFound,
    OutboundRefused,
    RunFinished,
    SecretUnreadable,
    StepNotPending,
    TemplateError,
    Unrecordable,
    WorkflowDisabled,
)
from engine.events import FINAL_STATUSES, Channel, Decision, DecisionRecorded, Event, RunStatus
from engine.forms import validate_values, value_problem
from engine.ports import (
    AppliedDefinition,
    Clock,
    CommandHandler,
    DeadCommand,
    Directory,
    Failed,
    Outbox,
    Outcome,
    PendingTask,
    RecordedEvent,
    RunPage,
    StoredDefinition,
    Succeeded,
    TaskSla,
    TimerStore,
    Unavailable,
)
from engine.runtime.applier import Listener
from engine.runtime.clock import SystemClock
from engine.runtime.human_tasks import principal as person
from engine.runtime.router import ChannelRouter
from engine.runtime.service import Engine, RuntimeSettings
from engine.schedules import ScheduleInfo
from engine.secrets import check_name as check_secret_name
from engine.state import Delegation, Question, RunState, StepState
from engine.templates import mrkdwn_escape, render
from engine.timeline import describe
from engine.working_time import WorkingHours

__all__ = [
    "APPROVAL_STEP",
    "APPROVAL_WORKFLOW",
    "AUDIT_FORMAT",
    "AUDIT_REPORT_COLUMNS",
    "COMMENT_FIELD",
    "FINAL_STATUSES",
    "PURGED",
    "AccessStores",
    "AnswerDelivered",
    "ApiKey",
    "ApiKeyStore",
    "AppliedDefinition",
    "ApprovalStatus",
    "ApprovalStep",
    "AskQuestion",
    "Away",
    "BadBundle",
    "BundleReport",
    "Channel",
    "ChannelRouter",
    "Checkpoint",
    "Clock",
    "Command",
    "CommandHandler",
    "ConcurrencyConflict",
    "DeadCommand",
    "Decision",
    "DecisionRecorded",
    "DefinitionError",
    "Delegation",
    "Directory",
    "DuplicateRun",
    "Duration",
    "Engine",
    "EngineApi",
    "EngineError",
    "Event",
    "Failed",
    "FormField",
    "IdempotencyConflict",
    "InputStep",
    "InvalidInput",
    "Listener",
    "NOf",
    "NotAllowed",
    "NotFound",
    "Option",
    "OutboundRefused",
    "Outbox",
    "Outcome",
    "PendingTask",
    "Question",
    "RecordedEvent",
    "ReportRow",
    "RequestApproval",
    "RequestInput",
    "RunChanged",
    "RunFinished",
    "RunPage",
    "RunState",
    "RunStatus",
    "RuntimeSettings",
    "ScheduleInfo",
    "SecretUnreadable",
    "SendNotification",
    "StepNotPending",
    "StepState",
    "StoredDefinition",
    "Succeeded",
    "SystemClock",
    "TaskSla",
    "TemplateError",
    "TimerStore",
    "Unavailable",
    "Unrecordable",
    "UpdateApproval",
    "WebSession",
    "WorkflowDefinition",
    "WorkflowDisabled",
    "WorkingHours",
    "approval_definition",
    "asked_by",
    "check_secret_name",
    "checkpoint_problems",
    "commands",
    "departures",
    "describe",
    "errors",
    "events",
    "input_rows",
    "json_schema",
    "load_bundle",
    "load_definition",
    "make_checkpoint",
    "merkle_root",
    "mrkdwn_escape",
    "needs_of",
    "new_token",
    "one_line",
    "outcome_of",
    "parse_public_key",
    "person",
    "principal",
    "public_key_text",
    "render",
    "render_specs",
    "report_rows",
    "sign_bundle",
    "split_list",
    "step_title",
    "template_context",
    "templates",
    "unpurged",
    "validate_values",
    "value_problem",
    "verify_bundle",
]
