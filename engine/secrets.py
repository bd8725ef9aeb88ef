"""Each workspace's secrets for `{{ secrets.NAME }}` in http steps, and keeping them out of sight.

A tenant's secrets are its own: a definition may name only secrets its workspace has (checked when
it is applied), and an http step is rendered over a read-only mapping of its tenant's secrets
alone, at dispatch, so values never reach a definition, an event or the outbox. Whatever an http
step brings back (response, error text) has those values replaced by `[secret NAME]` before it is
recorded, so a server that echoes a header cannot put a token into the timeline.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

from engine import templates
from engine.definitions.models import HttpAction
from engine.errors import EngineError, InvalidInput, NotAllowed, NotFound, TemplateError
from engine.ports import SecretInfo, SecretStore

# Usable as `secrets.NAME` in a template.
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_VALUE_CHARS = 16 * 1024
MIN_PARTIAL = 4  # a secret's first characters left at a cut are redacted from this many on

Seeds = Mapping[str, Mapping[str, str]]  # tenant -> name -> value, from the settings


def check_name(name: str) -> None:
    if not NAME.match(name):
        raise InvalidInput(
            {
                "name": f"{name[:70]!r} is not a secret name: use letters, digits and _, not "
                "starting with a digit, at most 64 characters (templates read it as secrets.NAME)"
            }
        )


def check_value(value: str) -> None:
    if not value:
        raise InvalidInput({"value": "the value is empty"})
    if len(value) > MAX_VALUE_CHARS:
        raise InvalidInput({"value": f"the value is longer than {MAX_VALUE_CHARS} characters"})


class Secrets:
    """The secrets of every tenant: those set at run time (`store`, encrypted) over those the
    settings seed (`seeds`); a stored one replaces a seeded one of the same name."""

    def __init__(self, store: SecretStore | None = None, seeds: Seeds | None = None) -> None:
        self.store = store
        self._seeds = {tenant: dict(values) for tenant, values in (seeds or {}).items()}
        for tenant, values in self._seeds.items():
            for name in values:
                if not NAME.match(name):  # a clear error at start-up, never showing values
                    raise EngineError(
                        f"the settings give {tenant} a secret {name[:70]!r}, which is not a "
                        "secret name: use letters, digits and _, not starting with a digit"
                    )

    def seed(self, tenant_id: str, values: Mapping[str, str]) -> None:
        """Seed a tenant that the settings do not name already."""
        self._seeds.setdefault(tenant_id, dict(values))

    def _store(self) -> SecretStore:
        if self.store is None:
            raise NotAllowed("this process has no secret store; secrets come from the settings")
        return self.store

    async def put(self, tenant_id: str, name: str, value: str, now: datetime) -> None:
        check_name(name)
        check_value(value)
        await self._store().put(tenant_id, name, value, now)

    async def delete(self, tenant_id: str, name: str) -> None:
        """Remove a stored secret; raises NotFound (or NotAllowed for a seeded one)."""
        if self.store is not None and await self.store.delete(tenant_id, name):
            return
        if name in self._seeds.get(tenant_id, {}):
            raise NotAllowed(
                f"secret {name!r} of {tenant_id} comes from the settings (SECRETS or "
                "TENANT_SECRETS); remove it there"
            )
        raise NotFound(f"{tenant_id} has no secret {name!r}")

    async def listed(self, tenant_id: str) -> list[SecretInfo]:
        stored = await self.store.listed(tenant_id) if self.store is not None else []
        have = {s.name for s in stored}
        seeded = [
            SecretInfo(name, None, "settings")
            for name in self._seeds.get(tenant_id, {})
            if name not in have
        ]
        return sorted([*stored, *seeded], key=lambda s: s.name)

    async def names(self, tenant_id: str) -> set[str]:
        return {s.name for s in await self.listed(tenant_id)}

    async def values(self, tenant_id: str, names: Collection[str] | None) -> dict[str, str]:
        """The tenant's values among `names` (None: all). Raises SecretUnreadable."""
        seeded = self._seeds.get(tenant_id, {})
        found = {k: v for k, v in seeded.items() if names is None or k in names}
        if self.store is not None:
            found.update(await self.store.values(tenant_id, names))
        return found


def read_only(values: Mapping[str, str]) -> Mapping[str, str]:
    """What a template sees as `secrets`: no `.update`, `.pop` or item assignment, even in a
    sandbox that allows calling a dict's methods."""
    return MappingProxyType(dict(values))


def referenced(texts: Iterable[str]) -> set[str] | None:
    """The secret names these templates read; None when one reads `secrets` as a whole (or does
    not parse, and so will fail to render anyway)."""
    names: set[str] = set()
    for text in texts:
        if "secrets" not in text:
            continue
        try:
            refs = templates.references(text)
        except TemplateError:
            return None
        for root, attr in refs:
            if root != "secrets":
                continue
            if attr is None:
                return None
            names.add(attr)
    return names


def action_texts(action: HttpAction) -> Iterator[str]:
    """Every template of an http request: url, header values, strings of the json body."""
    yield action.url
    yield from action.headers.values()
    pending: list[Any] = [action.json_body]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            yield value
        elif isinstance(value, Mapping):
            pending.extend(value.values())
        elif isinstance(value, list | tuple):
            pending.extend(value)


def _forms(value: str) -> set[str]:
    """The ways a value may come back: as is, JSON-escaped, URL-encoded."""
    return {value, json.dumps(value)[1:-1], quote(value, safe=""), quote(value)} - {""}


class Redactor:
    """Replaces each secret value in strings (deep in dicts and lists) with `[secret NAME]`."""

    def __init__(self, values: Mapping[str, str]) -> None:
        pairs = [(form, name) for name, value in values.items() for form in _forms(value)]
        self._whole = {value: name for name, value in values.items()}
        # The longest first, so a value that contains another is replaced whole.
        self._pairs = sorted(pairs, key=lambda p: -len(p[0]))

    def __bool__(self) -> bool:
        return bool(self._pairs)

    def text(self, text: str) -> str:
        for form, name in self._pairs:
            if form in text:
                text = text.replace(form, f"[secret {name}]")
        return text

    def clip(self, text: str, limit: int) -> str:
        """`text` redacted, then cut to `limit` characters; a secret the cut (or the end of
        what was read) leaves half-shown is replaced too, from its first MIN_PARTIAL chars."""
        text = self.text(text)
        if len(text) <= limit:
            return text
        text = text[:limit]
        for form, name in self._pairs:
            tail = text[-(len(form) - 1) :] if len(form) > 1 else ""
            at = tail.find(form[0]) if tail else -1
            while at != -1 and len(tail) - at >= MIN_PARTIAL:
                if form.startswith(tail[at:]):
                    return text[: len(text) - len(tail) + at] + f"[secret {name}]"
                at = tail.find(form[0], at + 1)
        return text

    def value(self, value: Any) -> Any:
        if not self._pairs:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.value(k): self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        if isinstance(value, int | float) and not isinstance(value, bool):
            # A numeric secret echoed back as a JSON number.
            name = self._whole.get(str(value))
            return value if name is None else f"[secret {name}]"
        return value
