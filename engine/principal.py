"""Who a workflow names: the one parser for the ways a person or an audience is written.

Definitions, form values, API actors, CLI `--as`, Slack, links and the channel router all read
principals through `parse`/`find`, so one person has one name everywhere: an email address and
"email:" + that address are the same principal, stored as "email:addr" (lower case).

| Written as                         | Kind    | Stored as                |
|------------------------------------|---------|--------------------------|
| `U0123ABCD`, `W0123ABCD`           | user    | as written               |
| `ana@example.com`, `email:ana@…`   | email   | `email:ana@example.com`  |
| `S0123ABCD`                        | group   | as written               |
| `C0123ABCD`, `G0123ABCD`, `#name`  | channel | as written (`#name` lower case) |
| `system`, `system:schedule`        | system  | as written               |
| `cli:root`                         | operator| as written               |

An operator is whoever runs this installation's CLI or signs in with `countersign signin`
(`cli:<login>`): a person who is reached on the dashboard and the CLI only, so a workflow run
without Slack or mail (the quickstart) can ask its own operator.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, get_args

from engine.errors import EngineError

Kind = Literal["user", "email", "group", "channel", "system", "operator"]
KINDS: tuple[Kind, ...] = get_args(Kind)
PEOPLE: tuple[Kind, ...] = ("user", "email")
# Whom an approval step may name once its templates are rendered (an operator too: see above).
APPROVER_KINDS: tuple[Kind, ...] = ("user", "email", "group", "channel", "operator")
EMAIL_PREFIX = "email:"

_ID = "[A-Z0-9]+"  # Slack ids: one letter for the kind, then upper-case letters and digits
_USER = re.compile(f"[UW]{_ID}")
_GROUP = re.compile(f"S{_ID}")
_CHANNEL = re.compile(f"[CG]{_ID}|#[^\\W_][\\w.-]{{0,79}}")
# No separators (",;" quotes, brackets) and no ":" in the local part, so rendered lists split
# cleanly and "mailto:x@y.z" or "api:x@y" are not mistaken for addresses.
_NOT = r"\s@:,;<>\[\]\"'"
_EMAIL = re.compile(f"[^{_NOT}]+@[^{_NOT}/]+\\.[^{_NOT}/]+")
_SYSTEM = re.compile(r"system(?::[\w.-]+)?")
_OPERATOR = re.compile(r"cli:[\w.-]+")
# A user id inside free text (e.g. "no decision within 2h from U0AB, U0CD").
_USER_IN_TEXT = re.compile(r"\b[UW][A-Z0-9]{2,}\b")

FORMS: dict[Kind, str] = {
    "user": "a Slack user id (U…/W…)",
    "email": "an email address (ana@example.com or email:ana@example.com)",
    "group": "a Slack user group (S…)",
    "channel": "a channel (#name or C…)",
    "system": "system:NAME",
    "operator": "an operator (cli:NAME)",
}


@dataclass(frozen=True, slots=True)
class Principal:
    """One person or audience, in its canonical text (`id`)."""

    kind: Kind
    id: str

    def __str__(self) -> str:
        return self.id

    @property
    def address(self) -> str | None:
        """The email address of an email principal (without "email:")."""
        return self.id.removeprefix(EMAIL_PREFIX) if self.kind == "email" else None

    @property
    def is_person(self) -> bool:
        return self.kind in PEOPLE

    @property
    def shown(self) -> str:
        """How people read it: the bare address for an email principal, else the id."""
        return self.address or self.id


class PrincipalError(EngineError, ValueError):
    """Text that is not one of the accepted forms; the message names them (and `what` it was
    meant to be, e.g. "approver")."""

    def __init__(self, text: str, accept: Iterable[Kind], what: str = "") -> None:
        self.text = text
        self.accept = tuple(accept)
        lead = f"{what} " if what else ""
        super().__init__(f"{lead}{text!r} is not {expected(self.accept)}")


def expected(accept: Iterable[Kind] = KINDS, *, also: str = "") -> str:
    """The accepted forms in words: "a Slack user id (U…/W…) or an email address (…)"."""
    kinds = set(accept)
    words = [FORMS[k] for k in KINDS if k in kinds] + ([also] if also else [])
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def find(text: str) -> Principal | None:
    """The principal `text` names (surrounding spaces ignored), None when it names nobody."""
    value = text.strip()
    if _USER.fullmatch(value):
        return Principal("user", value)
    bare = value.removeprefix(EMAIL_PREFIX)
    if _EMAIL.fullmatch(bare):
        return Principal("email", EMAIL_PREFIX + bare.lower())
    if _GROUP.fullmatch(value):
        return Principal("group", value)
    if _CHANNEL.fullmatch(value):
        return Principal("channel", value.lower() if value.startswith("#") else value)
    if _SYSTEM.fullmatch(value):
        return Principal("system", value)
    if _OPERATOR.fullmatch(value):
        return Principal("operator", value)
    return None


def parse(text: str, accept: Iterable[Kind] = KINDS, what: str = "") -> Principal:
    """The principal `text` names, of one of the `accept`ed kinds; PrincipalError otherwise."""
    kinds = tuple(accept)
    found = find(text) if isinstance(text, str) else None
    if found is None or found.kind not in kinds:
        raise PrincipalError(text, kinds, what)
    return found


def canonical(text: str) -> str:
    """`text` in its canonical form when it names a principal, else unchanged (an actor may be
    something else, e.g. an API key "api:KEY" or a login name)."""
    found = find(text)
    return found.id if found is not None else text


def is_kind(text: str, *kinds: Kind) -> bool:
    found = find(text)
    return found is not None and found.kind in kinds


def replace_user_ids(text: str, replace: Callable[[str], str]) -> str:
    """`text` with every Slack user id in it replaced (e.g. by a mention)."""
    return _USER_IN_TEXT.sub(lambda m: replace(m.group(0)), text)


def shown(text: str) -> str:
    """A principal as people read it (an email principal as its bare address)."""
    found = find(text)
    return found.shown if found is not None else text
