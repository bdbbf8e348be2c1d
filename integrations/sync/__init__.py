"""The sync engine: jobs (queue, claim, take over), batch upserts with checkpoints, the run loop
and the schedules. Connectors only fetch and transform; everything stateful happens here."""
