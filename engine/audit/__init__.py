"""Tamper evidence for the event log: each event's hash chains to the previous one of its run
(`chain`), a tenant's run heads are summed up by a Merkle root signed as a checkpoint
(`merkle`, `checkpoint`), and an exported bundle is checked offline (`bundle`). Pure: no IO."""
