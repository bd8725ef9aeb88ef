"""The audit evidence of one run over the API: the same signed bundle `countersign audit export
--run` writes (with inclusion proofs against the workspace's signed checkpoint), which
`countersign audit verify` checks offline."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from web.api.registry import Call, operation
from web.api.routes import ApiDeps
from web.errors import ApiError


class AuditBundle(BaseModel):
    """A self-contained, signed audit bundle (verify it with `countersign audit verify FILE`).
    Its fields beyond these are described in the README's section for auditors."""

    model_config = ConfigDict(extra="allow")

    format: str = Field(description="countersign-audit-bundle/2: checkpoints carry proofs")
    tenant: str
    exported_at: str
    scope: dict[str, Any]
    public_key: str = Field(description="ed25519: and the hex of the key that signed it")
    runs: list[dict[str, Any]]
    definitions: list[dict[str, Any]]
    checkpoints: list[dict[str, Any]]
    signature: str


def bundle_response(bundle: dict[str, Any], run_id: str) -> web.Response:
    """The bundle as a download, compact like `audit export` writes it (every byte counts)."""
    return web.Response(
        body=json.dumps(bundle, separators=(",", ":"), ensure_ascii=False).encode(),
        content_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="audit-{run_id}.json"'},
    )


@operation(
    "GET",
    "/runs/{run_id}/audit-bundle",
    summary="The signed audit bundle of one run: its chained events, what each approver was "
    "shown, the definition version, and inclusion proofs against the signed checkpoint",
    tag="runs",
    responses={200: AuditBundle},
    errors=(401, 404, 503),
)
async def get_audit_bundle(deps: ApiDeps, call: Call) -> web.Response:
    if deps.audit_bundle is None:
        raise ApiError(503, "unavailable", "this server does not export audit bundles")
    run_id = call.path("run_id")
    bundle = await deps.audit_bundle(call.tenant_id, run_id)
    if bundle is None:  # no such run in the key's workspace (another tenant's is not named)
        raise ApiError(404, "not_found", f"no run {run_id}")
    return bundle_response(bundle, run_id)


OPERATIONS = (get_audit_bundle,)
