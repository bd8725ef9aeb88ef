"""The run as a pure state machine: `decide` turns a trigger into events, commands and timers;
`evolve` folds an event into the state. No IO, no awaits, no clock reads: `now` is an argument,
and the little randomness there is (retry jitter) is derived from command keys."""

from engine.decider.decide import decide
from engine.decider.evolve import evolve, fold, replay
from engine.decider.keys import (
    attempt_key,
    compensation_key,
    reminder_timer,
    resolve_key,
    retry_timer,
    timeout_timer,
    wait_timer,
)

__all__ = [
    "attempt_key",
    "compensation_key",
    "decide",
    "evolve",
    "fold",
    "reminder_timer",
    "replay",
    "resolve_key",
    "retry_timer",
    "timeout_timer",
    "wait_timer",
]
