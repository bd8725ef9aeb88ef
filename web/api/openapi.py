"""The OpenAPI 3.1 document, generated from the declared operations and their pydantic models
(OpenAPI 3.1 schemas are JSON Schema, which is what pydantic emits)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from web.api.approval_schemas import ApprovalWebhook
from web.api.registry import Operation
from web.api.schemas import ErrorResponse, WebhookPayload

PREFIX = "/api/v1"
REF = "#/components/schemas/{model}"

DESCRIPTION = """\
Start and follow Countersign workflow runs, decide on behalf of approvers, resume runs with
signals, and manage workflow definitions.

**Authentication.** Every call needs a per-tenant API key: `Authorization: Bearer cs_…`.
Create one with `countersign apikeys create --tenant T --name NAME` (shown once). Ids of another
tenant's runs and workflows answer 404.

**Runs.** Every call that answers with a run returns the same run object (`RunView`), with
`summary` saying what the run is about; `GET /runs/{run_id}` adds its `timeline`. Its `run`
member (the run again, as it was returned before) is deprecated.

**Errors.** Every 4xx has the body `{"error": {"code", "message", "details"}}`.

**Completion webhooks.** A run started with `callback_url` gets a POST when it finishes (see
`webhooks.runFinished`). Headers:

- `Countersign-Signature: t=<unix seconds>,v1=<hex>` where `<hex>` is
  HMAC-SHA256(webhook secret, `"<t>." + raw body`). Recompute it over the raw body, compare in
  constant time, and refuse a `t` more than 5 minutes away from your clock.
- `Countersign-Event: run.finished` (or `approval.decided`, see `webhooks.approvalDecided`)
- `Idempotency-Key`: the same for every retry of one delivery.

Any 2xx acknowledges. Anything else (or no answer within 10 s) is retried with exponential
backoff (up to 5 minutes apart) until it succeeds, for up to three days.
"""

ERROR_TEXT = {
    400: "Malformed request: the body is not JSON or nests too deep, or a path segment, query "
    "parameter or header holds a NUL character.",
    401: "Missing, unknown or revoked API key.",
    403: "The named actor may not do this.",
    404: "No such object in this tenant.",
    409: "The run or step is not in a state that allows this, or the Idempotency-Key was used "
    "for a different request (`idempotency_conflict`).",
    413: "The request body is larger than the server accepts (2 MiB).",
    422: "The request is well-formed but not valid; `details` lists the fields.",
}


def _no_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent rather than null: drop `null` from optional fields."""
    variants = schema.get("anyOf")
    if variants:
        rest = [v for v in variants if v.get("type") != "null"]
        if len(rest) == 1:
            out = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
            return {**out, **rest[0]}
    return {k: v for k, v in schema.items() if not (k == "default" and v is None)}


def build_openapi(operations: Sequence[Operation], version: str) -> dict[str, Any]:
    models: set[tuple[type[BaseModel], JsonSchemaMode]] = {
        (ErrorResponse, "serialization"),
        (WebhookPayload, "serialization"),
        (ApprovalWebhook, "serialization"),
    }
    for op in operations:
        if op.body is not None:
            models.add((op.body, "validation"))
        for model in op.responses.values():
            models.add((model, "serialization"))
    ordered = sorted(models, key=lambda m: (m[0].__name__, m[1]))
    refs, top = models_json_schema(ordered, ref_template=REF)
    schemas: dict[str, Any] = top.get("$defs", {})

    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        path = PREFIX + op.path
        paths.setdefault(path, {})[op.method.lower()] = _operation(op, refs)
    paths[PREFIX + "/openapi.json"] = {
        "get": {
            "operationId": "openapi",
            "summary": "This document",
            "tags": ["meta"],
            "security": [],
            "responses": {
                "200": {
                    "description": "The OpenAPI document",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Countersign API", "version": version, "description": DESCRIPTION},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "webhooks": {
            "runFinished": _webhook(
                "A run with a callback_url finished", refs[(WebhookPayload, "serialization")]
            ),
            "approvalDecided": _webhook(
                "An approval request with a callback_url was decided, expired or cancelled",
                refs[(ApprovalWebhook, "serialization")],
            ),
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _webhook(summary: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A signed webhook: `Countersign-Signature` over the raw body (see the description)."""
    return {
        "post": {
            "summary": summary,
            "parameters": [
                {
                    "name": "Countersign-Signature",
                    "in": "header",
                    "required": True,
                    "schema": {"type": "string"},
                    "description": "t=<unix seconds>,v1=<hex HMAC-SHA256>",
                }
            ],
            "requestBody": {"content": {"application/json": {"schema": schema}}},
            "responses": {"200": {"description": "Any 2xx acknowledges"}},
        }
    }


def _event_schema(data: dict[str, Any]) -> dict[str, Any]:
    """One server-sent event (OpenAPI before 3.2 has `schema` describe each event)."""
    return {
        "type": "object",
        "properties": {
            "event": {"type": "string"},
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": data,
            },
            "id": {"type": "string"},
            "retry": {"type": "integer"},
        },
    }


def _operation(op: Operation, refs: dict[Any, Any]) -> dict[str, Any]:
    error_ref = refs[(ErrorResponse, "serialization")]
    params: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "minLength": 1, "maxLength": 128},
        }
        for name in re.findall(r"{(\w+)}", op.path)
    ]
    if op.query is not None:
        for name, prop in op.query.model_json_schema()["properties"].items():
            params.append(
                {"name": name, "in": "query", "required": False, "schema": _no_null(prop)}
            )
    for header in op.headers:
        params.append(
            {
                "name": header.name,
                "in": "header",
                "required": False,
                "description": header.description,
                "schema": {"type": "string", "minLength": 1, "maxLength": header.max_length},
            }
        )
    media = op.stream or "application/json"
    responses: dict[str, Any] = {
        str(status): {
            "description": "OK" if status < 300 else str(status),
            "content": {media: {"schema": refs[(model, "serialization")]}},
        }
        for status, model in op.responses.items()
    }
    if op.stream is not None:  # each event's data is the response model, as JSON text
        for status, model in op.responses.items():
            responses[str(status)] = {
                "description": f"A stream of server-sent events whose data are {model.__name__}",
                "content": {media: {"schema": _event_schema(refs[(model, "serialization")])}},
            }
    if op.links:
        ok = str(min(op.responses))
        responses[ok]["links"] = {
            target: {
                "operationId": target,
                "parameters": {
                    name: f"$response.body#/{field}" for name, field in params_map.items()
                },
            }
            for target, params_map in op.links.items()
        }
    has_body = op.body is not None or op.body_any
    body_errors = {400, 413, 422} if has_body else set()
    malformed = {400} if params else set()  # a NUL in a path segment, query value or header
    for status in sorted({*op.errors, 401, *body_errors, *malformed}):
        responses[str(status)] = {
            "description": ERROR_TEXT.get(status, "Error"),
            "content": {"application/json": {"schema": error_ref}},
        }
    out: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
        "responses": responses,
    }
    if params:
        out["parameters"] = params
    if op.body is not None:
        schema = refs[(op.body, "validation")]
        out["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
    elif op.body_any:
        out["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    return out
