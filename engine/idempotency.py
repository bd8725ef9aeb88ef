"""What makes two starts under one Idempotency-Key the same request: a hash of the canonical
JSON of what they ask for (workflow, inputs, requester, callback URL). It is stored with the key;
a later start with the key and the same hash is a retry (it gets the first run), one with
another hash reuses the key for a different request and is refused."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any


def start_hash(
    workflow: str, inputs: Mapping[str, Any], requester: str, callback_url: str | None
) -> str:
    """SHA-256 (hex) of the start's meaningful fields as canonical JSON (sorted keys, no
    spaces, ASCII escapes), so key order or whitespace in a request body does not matter."""
    request = {
        "workflow": workflow,
        "inputs": dict(inputs),
        "requester": requester,
        "callback_url": callback_url,
    }
    text = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("ascii")).hexdigest()
