"""What the runtime tells the decider besides the run (`DecideEnv`): working hours, the time
zones of the people it has met, who is out of office. Kept in memory so the hot path pays no IO:

- Zones are looked up only when a decision needs one it lacks (a step with reminders or a
  working-hours timeout asking someone new); each user's answer is kept for `zone_ttl`.
- Out-of-office records of a tenant are read at most every `away_ttl` seconds (and at once after
  this process changes them), so another replica's change shows within that delay.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from engine.away import Away
from engine.decider.env import DecideEnv
from engine.ports import AwayStore, Clock, Directory
from engine.working_time import DEFAULT_HOURS, WorkingHours, zone_info

log = logging.getLogger(__name__)


@dataclass
class _TenantCache:
    zones: dict[str, str] = field(default_factory=dict)
    zone_seen: dict[str, float] = field(default_factory=dict)
    aways: tuple[Away, ...] = ()
    aways_read: float | None = None


class Environment:
    def __init__(
        self,
        clock: Clock,
        directory: Callable[[], Directory],
        aways: AwayStore,
        hours: WorkingHours = DEFAULT_HOURS,
        *,
        away_ttl: float = 5.0,
        zone_ttl: float = 24 * 3600.0,
    ) -> None:
        self.clock = clock
        self.hours = hours
        self.aways = aways
        self._directory = directory
        self.away_ttl = away_ttl
        self.zone_ttl = zone_ttl
        self._tenants: dict[str, _TenantCache] = {}
        self._away_lock = asyncio.Lock()

    def _tenant(self, tenant_id: str) -> _TenantCache:
        found = self._tenants.get(tenant_id)
        if found is None:
            found = self._tenants[tenant_id] = _TenantCache()
        return found

    async def get(self, tenant_id: str, *, strict: bool = True) -> DecideEnv:
        cache = self._tenant(tenant_id)
        if cache.aways_read is None or time.monotonic() - cache.aways_read >= self.away_ttl:
            async with self._away_lock:
                if cache.aways_read is None or time.monotonic() - cache.aways_read >= self.away_ttl:
                    cache.aways = tuple(await self.aways.current(tenant_id, self.clock.now()))
                    cache.aways_read = time.monotonic()
        return DecideEnv(
            hours=self.hours, zones=cache.zones, aways=cache.aways, strict_zones=strict
        )

    def aways_changed(self, tenant_id: str) -> None:
        self._tenant(tenant_id).aways_read = None

    async def learn_zones(self, tenant_id: str, users: Iterable[str]) -> None:
        """Look up the zones of `users` (the default zone when unknown or unreachable)."""
        cache = self._tenant(tenant_id)
        now = time.monotonic()
        wanted = [
            u for u in users if u not in cache.zones or now - cache.zone_seen[u] > self.zone_ttl
        ]
        if not wanted:
            return
        directory = self._directory()
        found = await asyncio.gather(*(self._lookup(directory, tenant_id, u) for u in wanted))
        for user, zone in zip(wanted, found, strict=True):
            if zone is not None:  # a failed lookup is tried again next time
                cache.zones[user] = zone
                cache.zone_seen[user] = now

    async def _lookup(self, directory: Directory, tenant_id: str, user: str) -> str | None:
        lookup = getattr(directory, "time_zone", None)
        zone: str | None = None
        if lookup is not None:
            try:
                zone = await lookup(tenant_id, user)
            except Exception:
                # A reminder in the default zone beats a request that cannot go out.
                log.warning("could not look up the time zone of %s; using the default", user)
                return None
        if not zone or zone_info(zone) is None:
            return self.hours.default_zone
        return zone

    def set_zone(self, tenant_id: str, user: str, zone: str) -> None:
        """Tell the runtime a user's zone (e.g. from a Slack event), replacing what it knew."""
        cache = self._tenant(tenant_id)
        cache.zones[user] = zone
        cache.zone_seen[user] = time.monotonic()
