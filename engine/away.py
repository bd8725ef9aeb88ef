"""Out of office: while a user is away, new requests for them go to their delegate."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Away:
    """`user` is away from `starts` (inclusive) until `until` (exclusive); `delegate` acts for
    them meanwhile."""

    tenant_id: str
    user: str
    delegate: str
    starts: datetime
    until: datetime
    created_by: str | None = None

    def covers(self, at: datetime) -> bool:
        return self.starts <= at < self.until


def away_map(aways: Iterable[Away], at: datetime) -> dict[str, Away]:
    """user -> their away record, for the users away at `at`."""
    return {a.user: a for a in aways if a.covers(at)}
