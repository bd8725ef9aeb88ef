"""Cross-replica plumbing: what one Countersign process tells the others through Redis.

Adapters consume it through their own Protocols (e.g. `web.ports.RunFeed`); the engine only
sees an ordinary commit listener.
"""
