"""Rights that are not about one run's step: what only an admin may do (define workflows,
reassign a request, change someone else's out-of-office). Pure, like the rest of the decider:
the channel says who asks and whether they are an admin (`engine.actor.Actor`); the rule that
follows from it is judged here, and refused with the code `not_admin`."""

from __future__ import annotations

from engine.errors import NotAllowed

# What an admin may do that others may not, as the refusal words it ("only ... admins can X").
DEFINE = "define workflows"
REASSIGN = "reassign requests"


def require_admin(admin: bool, what: str) -> None:
    """Refuse `what` (one of the names above, or any "verb object") to someone not an admin."""
    if not admin:
        raise NotAllowed(f"only Countersign admins can {what}", code="not_admin", action=what)


def check_away(actor: str, admin: bool, user: str, *, ending: bool = False) -> None:
    """Anyone sets or ends their own out-of-office; only an admin someone else's."""
    if actor != user:
        what = "end" if ending else "set"
        require_admin(admin, f"{what} someone else's out-of-office")
