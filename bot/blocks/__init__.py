"""Block Kit builders: pure functions from engine state to Slack surfaces, one module each."""
