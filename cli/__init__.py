"""The operator's side: settings, the composition of the parts, and the `countersign` CLI."""
