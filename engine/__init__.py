"""Countersign's pure domain: workflow definitions, the run decider and the ports it needs.

This package is the engine's public face: adapters (Slack, web, email, CLI) import what they
use from `engine`, not from its submodules. `EngineApi` is what they may ask of the engine;
`Engine` implements it and is built once, by the process setup (`cli.wiring`). The namespaces
`errors`, `events`, `commands`, `principal` and `templates` are public too. The in-memory
stores for tests are in `engine.testing`, which production code never imports.
"""

from engine import commands, errors, events, principal, templates
from engine.access import AccessStores, ApiKey, ApiKeyStore, WebSession, new_token
from engine.actor import Actor
from engine.agent_requests import (
    AGENT_FIELDS,
    AgentRequest,
    agent_request,
    approved_details,
    check_edit,
    digest_of,
    parse_edits,
    short_digest,
)
from engine.api import EngineApi
from engine.approvals import (
    APPROVAL_STEP,
    APPROVAL_WORKFLOW,
    ARGUMENTS_FIELD,
    COMMENT_FIELD,
    GRANT_FIELD,
    ApprovalStatus,
    approval_definition,
    outcome_of,
    split_list,
)
from engine.audit.bundle import FORMAT as AUDIT_FORMAT
from engine.audit.bundle import PROOF_FORMAT as AUDIT_PROOF_FORMAT
from engine.audit.bundle import (
    BadBundle,
    BundleReport,
    RunReport,
    load_bundle,
    sign_bundle,
    verify_bundle,
)
from engine.audit.bundle import Saw as AuditSaw
from engine.audit.checkpoint import (
    PURGED,
    Checkpoint,
    KeyRing,
    checkpoint_problems,
    departures,
    key_id,
    key_ring,
    make_checkpoint,
    parse_public_key,
    public_key_text,
    unpurged,
)
from engine.audit.live import LiveCheck
from engine.audit.merkle import merkle_root
from engine.audit.proofs import with_proofs
from engine.audit.report import COLUMNS as AUDIT_REPORT_COLUMNS
from engine.audit.report import ReportRow, report_rows
from engine.away import Away
from engine.commands import (
    AnswerDelivered,
    AskQuestion,
    Command,
    CompleteSlackStep,
    RequestApproval,
    RequestInput,
    RunChanged,
    SendNotification,
    UpdateApproval,
)
from engine.decider.approval import render_specs
from engine.decider.context import template_context
from engine.decider.keys import refresh_seq
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
from engine.events import (
    FINAL_STATUSES,
    Channel,
    Decision,
    DecisionRecorded,
    Event,
    RequestShown,
    RunStatus,
)
from engine.forms import validate_values, value_problem
from engine.grants import MAX_GRANT_HOURS, Grant, granted_by, pattern_problems
from engine.ports import (
    AppliedDefinition,
    Clock,
    CommandHandler,
    DeadCommand,
    Directory,
    Failed,
    GrantStore,
    Outbox,
    Outcome,
    PendingSummary,
    PendingTask,
    RecordedEvent,
    RunPage,
    SlaPage,
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
from engine.runtime.service import Engine
from engine.runtime.settings import RuntimeSettings
from engine.schedules import ScheduleInfo
from engine.secrets import Secrets
from engine.secrets import check_name as check_secret_name
from engine.shown import Shown, part_hash, shown_hash
from engine.state import Delegation, Question, RunState, StepState
from engine.step_results import StepResult, step_result
from engine.templates import mrkdwn_escape, render
from engine.timeline import describe
from engine.working_time import WorkingHours

__all__ = [
    "AGENT_FIELDS",
    "APPROVAL_STEP",
    "APPROVAL_WORKFLOW",
    "ARGUMENTS_FIELD",
    "AUDIT_FORMAT",
    "AUDIT_PROOF_FORMAT",
    "AUDIT_REPORT_COLUMNS",
    "COMMENT_FIELD",
    "FINAL_STATUSES",
    "GRANT_FIELD",
    "MAX_GRANT_HOURS",
    "PURGED",
    "AccessStores",
    "Actor",
    "AgentRequest",
    "AnswerDelivered",
    "ApiKey",
    "ApiKeyStore",
    "AppliedDefinition",
    "ApprovalStatus",
    "ApprovalStep",
    "AskQuestion",
    "AuditSaw",
    "Away",
    "BadBundle",
    "BundleReport",
    "Channel",
    "ChannelRouter",
    "Checkpoint",
    "Clock",
    "Command",
    "CommandHandler",
    "CompleteSlackStep",
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
    "Grant",
    "GrantStore",
    "IdempotencyConflict",
    "InputStep",
    "InvalidInput",
    "KeyRing",
    "Listener",
    "LiveCheck",
    "NOf",
    "NotAllowed",
    "NotFound",
    "Option",
    "OutboundRefused",
    "Outbox",
    "Outcome",
    "PendingSummary",
    "PendingTask",
    "Question",
    "RecordedEvent",
    "ReportRow",
    "RequestApproval",
    "RequestInput",
    "RequestShown",
    "RunChanged",
    "RunFinished",
    "RunPage",
    "RunReport",
    "RunState",
    "RunStatus",
    "RuntimeSettings",
    "ScheduleInfo",
    "SecretUnreadable",
    "Secrets",
    "SendNotification",
    "Shown",
    "SlaPage",
    "StepNotPending",
    "StepResult",
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
    "agent_request",
    "approval_definition",
    "approved_details",
    "check_edit",
    "check_secret_name",
    "checkpoint_problems",
    "commands",
    "departures",
    "describe",
    "digest_of",
    "errors",
    "events",
    "granted_by",
    "input_rows",
    "json_schema",
    "key_id",
    "key_ring",
    "load_bundle",
    "load_definition",
    "make_checkpoint",
    "merkle_root",
    "mrkdwn_escape",
    "needs_of",
    "new_token",
    "one_line",
    "outcome_of",
    "parse_edits",
    "parse_public_key",
    "part_hash",
    "pattern_problems",
    "person",
    "principal",
    "public_key_text",
    "refresh_seq",
    "render",
    "render_specs",
    "report_rows",
    "short_digest",
    "shown_hash",
    "sign_bundle",
    "split_list",
    "step_result",
    "step_title",
    "template_context",
    "templates",
    "unpurged",
    "validate_values",
    "value_problem",
    "verify_bundle",
    "with_proofs",
]
