"""/metrics in the Prometheus text format: runs by status, pending human tasks, outbox lag,
timer lag (read from the stores at scrape time) and the latency of the decisions this process
committed."""

from __future__ import annotations

from datetime import datetime

from engine import Clock, DecisionRecorded, Event, Outbox, RunState, TimerStore
from web.ports import MetricsSource

# Seconds; decisions are expected to take milliseconds, so the buckets are fine-grained there.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Histogram:
    def __init__(self, buckets: tuple[float, ...] = BUCKETS) -> None:
        self.buckets = buckets
        self.counts = [0] * len(buckets)
        self.total = 0
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.total += 1
        self.sum += seconds
        for i, bound in enumerate(self.buckets):
            if seconds <= bound:
                self.counts[i] += 1

    def lines(self, name: str) -> list[str]:
        out = [
            f'{name}_bucket{{le="{b}"}} {c}' for b, c in zip(self.buckets, self.counts, strict=True)
        ]
        out.append(f'{name}_bucket{{le="+Inf"}} {self.total}')
        out.append(f"{name}_sum {self.sum:.6f}")
        out.append(f"{name}_count {self.total}")
        return out


class Metrics:
    def __init__(
        self,
        source: MetricsSource | None,
        clock: Clock,
        outbox: Outbox | None = None,
        timers: TimerStore | None = None,
    ) -> None:
        self.source = source
        self.clock = clock
        self.outbox = outbox
        self.timers = timers
        self.decision_latency = Histogram()

    async def on_change(self, _state: RunState, events: list[Event]) -> None:
        """Engine listener: each committed decision, from any channel (Slack, email, web, API),
        observed from the moment the engine took it to its commit."""
        now = self.clock.now()
        for event in events:
            if isinstance(event, DecisionRecorded):
                self.decision_latency.observe(max((now - event.at).total_seconds(), 0.0))

    async def render(self, now: datetime) -> str:
        lines: list[str] = []

        def gauge(name: str, help_text: str, samples: list[tuple[str, float]]) -> None:
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} gauge")
            lines.extend(f"{name}{labels} {value:g}" for labels, value in samples)

        if self.source is not None:
            runs = await self.source.runs_by_status()
            gauge(
                "countersign_runs",
                "Runs by status, all tenants.",
                [(f'{{status="{s}"}}', n) for s, n in sorted(runs.items())],
            )
            pending = await self.source.pending_task_count()
            gauge(
                "countersign_pending_human_tasks", "People who still have to act.", [("", pending)]
            )
        if self.outbox is not None:
            open_commands, outbox_age = await self.outbox.pending_count(now)
            gauge(
                "countersign_outbox_open_commands",
                "Commands not performed yet.",
                [("", open_commands)],
            )
            gauge(
                "countersign_outbox_lag_seconds",
                "Age of the oldest due command in the outbox.",
                [("", outbox_age)],
            )
        if self.timers is not None:
            due = await self.timers.next_due()
            lag = max((now - due).total_seconds(), 0.0) if due is not None else 0.0
            gauge(
                "countersign_timer_lag_seconds", "How late the most overdue timer is.", [("", lag)]
            )
        name = "countersign_decision_latency_seconds"
        lines.append(
            f"# HELP {name} Time from a decision (any channel) reaching the engine to its commit."
        )
        lines.append(f"# TYPE {name} histogram")
        lines.extend(self.decision_latency.lines(name))
        return "\n".join(lines) + "\n"
