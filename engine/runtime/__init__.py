"""The runtime: the only part of the engine that awaits. It drives the pure decider, performs
commands through handlers (outbox dispatcher), fires durable timers and recovers after a crash;
it reaches the world only through the ports."""
