"""`countersign apikeys ...`: per-tenant keys for the REST API (the secret is shown once)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from cli.output import emit, table, when
from cli.settings import Settings
from cli.wiring import open_database
from engine import ApiKey
from storage.access import SqlApiKeyStore


def add_parsers(sub: Any) -> None:
    keys = sub.add_parser("apikeys", help="create, list and revoke REST API keys")
    cmds = keys.add_subparsers(dest="keys_cmd", required=True, metavar="ACTION")
    c = cmds.add_parser("create", help="create a key; its secret is shown only now")
    c.add_argument("name", help="what the key is for, e.g. 'ci-pipeline'")
    cmds.add_parser("list", help="the workspace's keys (never their secrets)")
    r = cmds.add_parser("revoke", help="revoke a key at once")
    r.add_argument("key_id")
    for p in cmds.choices.values():
        p.add_argument("--tenant", help="the workspace (default: the TENANT setting)")


def _row(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "created_at": key.created_at,
        "last_used_at": key.last_used_at,
        "revoked_at": key.revoked_at,
    }


async def run(args: argparse.Namespace, settings: Settings) -> int:
    tenant = args.tenant or settings.tenant
    now = datetime.now(UTC)
    storage = await open_database(settings)
    try:
        store = SqlApiKeyStore(storage.engine)
        if args.keys_cmd == "create":
            new = await store.create_key(tenant, args.name, now)
            text = (
                f"created key {new.key.id} ({new.key.name}) for {tenant}\n"
                f"secret (shown once, send it as 'Authorization: Bearer …'):\n{new.secret}"
            )
            emit({**_row(new.key), "secret": new.secret}, text, as_json=args.json)
        elif args.keys_cmd == "list":
            found = await store.list_keys(tenant)
            rows = [
                [k.id, k.name, when(k.created_at), when(k.last_used_at), when(k.revoked_at)]
                for k in found
            ]
            headers = ["ID", "NAME", "CREATED", "LAST USED", "REVOKED"]
            emit([_row(k) for k in found], table(rows, headers), as_json=args.json)
        else:
            key = await store.revoke_key(tenant, args.key_id, now)
            emit(_row(key), f"revoked {key.id} ({key.name})", as_json=args.json)
    finally:
        await storage.close()
    return 0
