"""Transactions for bookkeeping whose loss in a database server crash is harmless.

On PostgreSQL with synchronous_commit=on every commit waits for its WAL flush (milliseconds on a
busy disk), and a sync used to spend most of a no-change re-sync waiting for the flushes of its
rate-limit and request-count rows. bookkeeping_transaction() commits with
`SET LOCAL synchronous_commit = off`, for that one transaction only:

- Nothing changes for concurrency or for a killed worker: the commit is as atomic and as visible
  to every other session the moment it returns; only a crash of the database server itself (or
  its machine) within about three wal_writer_delay (600 ms by default) can lose it.
- The WAL is written in order, so the next synchronous commit of any session (a sync's batch,
  its final state) makes it durable too: what such a crash can lose is only the bookkeeping done
  since the last durable write.
- So it is used only where losing that is harmless, which each caller says: a rate-limit hit
  (the window forgets a request of the last second), a request counter (a few requests uncounted
  in the hourly metrics), a heartbeat (the job looks stale sooner; a takeover is safe by design).

Never for synced records, cursors, a job's ending or the audit log: those keep synchronous commits.
Inside a transaction the caller already holds this is a plain savepoint: the setting would
otherwise apply to the caller's whole transaction.
"""

from __future__ import annotations

from contextlib import contextmanager

from django.db import DEFAULT_DB_ALIAS, connections, transaction


@contextmanager
def bookkeeping_transaction(using: str = DEFAULT_DB_ALIAS):
    connection = connections[using]
    outermost = not connection.in_atomic_block
    with transaction.atomic(using=using):
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit = off")
        yield
