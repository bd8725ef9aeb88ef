"""Bolt listeners, one module per Slack surface, each with `register(app, deps)`.

Listeners are thin: ack first (Slack allows 3 seconds), then hand the request to the engine in
tracked background work. Only what must shape the ack itself (a modal's validation errors) is
done before it. Errors are never swallowed: the user hears what went wrong, the log gets the rest.
"""
