"""Errors as the API shows them: `{"error": {"code", "message", "details"}}` for every 4xx and
a bare `internal` error for a 5xx, never a stack trace. HTML pages get the same treatment in
`web.pages.common`. A failure that means the database cannot be reached right now (told apart
by the `OUTAGE` predicate the composition root gives the app) is a 503 `unavailable` with
`Retry-After`, not a 500: the client should try again, and the process recovers by itself."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from engine import errors as ee

log = logging.getLogger("countersign.web")

RETRY_AFTER = "5"  # seconds a client is asked to wait while the database is unreachable
# Whether an exception means a backing service (the database) is unreachable for now.
OUTAGE: web.AppKey[Callable[[BaseException], bool]] = web.AppKey("outage")


def is_outage(request: web.Request, exc: BaseException) -> bool:
    check = request.app.get(OUTAGE)
    if check is None or not check(exc):
        return False
    log.warning(
        "%s %s: the database is unreachable (%s: %s)",
        request.method,
        request.path,
        type(exc).__name__,
        exc,
    )
    return True


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


# The HTTP status of each class of engine refusal; the API's error code is the refusal's own
# stable `code` (not_approver, already_voted, closed, not_waiting, own_request, not_admin...).
_ENGINE_STATUS: list[tuple[type[ee.EngineError], int]] = [
    (ee.NotFound, 404),
    (ee.NotAllowed, 403),
    (ee.StepNotPending, 409),
    (ee.RunFinished, 409),
    (ee.WorkflowDisabled, 409),
    (ee.ConcurrencyConflict, 409),
    (ee.IdempotencyConflict, 409),
    (ee.InvalidInput, 422),
    (ee.DefinitionError, 422),
    (ee.TemplateError, 422),
    (ee.OutboundRefused, 422),
]
# A repeat is a conflict with what is recorded, not a missing right.
_STATUS_BY_CODE = {"already_voted": 409}


def refusal_status(exc: ee.EngineError) -> int:
    """The HTTP status of an engine refusal (4xx), for the API and the HTML pages alike."""
    if exc.code in _STATUS_BY_CODE:
        return _STATUS_BY_CODE[exc.code]
    return next((status for cls, status in _ENGINE_STATUS if isinstance(exc, cls)), 400)


def from_engine(exc: ee.EngineError) -> ApiError:
    """The API error for an engine refusal: a status, the refusal's stable code, the engine's
    message; `details` holds the fields at fault or, for a refusal, its facts."""
    details: Any = None
    if isinstance(exc, ee.InvalidInput):
        details = exc.errors
    elif isinstance(exc, ee.DefinitionError):
        details = [
            {"field": i.field, "message": i.message, "line": i.line, "file": i.file}
            for i in exc.issues
        ]
    elif exc.facts:
        details = {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in exc.facts.items()}
    return ApiError(refusal_status(exc), exc.code, exc.message, details)


def field_error(field: str, problem: str, message: str | None = None) -> ApiError:
    """A 422 `invalid_request` for one bad field (`details` names it and says why), like the
    ones pydantic's validation gives; `message` (default: `problem`) is the summary."""
    return ApiError(
        422, "invalid_request", message or problem, [{"field": field, "message": problem}]
    )


def from_validation(exc: ValidationError, where: str) -> ApiError:
    details = [
        {
            "field": ".".join(str(p) for p in e["loc"]) or "(top level)",
            "message": e["msg"],
        }
        for e in exc.errors(include_url=False, include_input=False)
    ]
    fields = ", ".join(d["field"] for d in details)
    return ApiError(422, "invalid_request", f"the {where} is not valid: {fields}", details)


def error_response(error: ApiError) -> web.Response:
    body = {"error": {"code": error.code, "message": error.message, "details": error.details}}
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    return web.json_response(body, status=error.status, headers=headers)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every failure under /api/ into the JSON error shape."""
    if not request.path.startswith("/api/"):
        return await handler(request)
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc)
    except ee.EngineError as exc:
        return error_response(from_engine(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            exc.status, "bad_request"
        )
        message = {
            404: f"no such endpoint: {request.method} {request.path}",
            405: f"{request.method} is not allowed on {request.path}",
        }.get(exc.status, exc.reason)
        return error_response(ApiError(exc.status, code, message))
    except Exception as exc:
        if is_outage(request, exc):
            message = "the database is unreachable right now; try again shortly"
            body = {"error": {"code": "unavailable", "message": message, "details": None}}
            return web.json_response(body, status=503, headers={"Retry-After": RETRY_AFTER})
        log.exception("internal error on %s %s", request.method, request.path)
        body = {"error": {"code": "internal", "message": "internal error", "details": None}}
        return web.json_response(body, status=500)
