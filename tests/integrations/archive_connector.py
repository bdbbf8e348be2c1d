"""A small archive connector for the tests of an archive type's connect page (the real archive
connectors arrive separately): a CSV of daily step counts, checked by its header, streamed row
by row with a checkpoint per batch, like every archive connector."""

from __future__ import annotations

import csv

from connectors.base import Batch, Connector, Record
from connectors.errors import ConfigError
from connectors.registry import registry

CSV_HEADER = "date,steps"
KEY = "test_step_archive"
# The tests stand in for a worker killed mid-import: after this many rows the "process" stops
# (SystemExit, as on SIGTERM), leaving the job running with its last checkpoint.
KILL_AFTER_ROWS: list[int] = []
ROWS_READ: list[str] = []


class StepArchiveConnector(Connector):
    @classmethod
    def sniff(cls, paths: list[str]) -> str:
        for path in paths:
            with open(path, encoding="utf-8", errors="replace") as handle:
                if handle.readline().strip() != CSV_HEADER:
                    raise ConfigError(
                        "This is not a step count export: its first line is not “date,steps”.",
                        remediation="Upload the steps.csv file the app exported.",
                    )
        return f"Step counts: {len(paths)} file{'s' if len(paths) != 1 else ''}"

    def list_changes(self, cursor):
        done = (cursor or {}).get("rows", 0)
        items, row_number = [], 0
        for path in self.ctx.options.get("archive_paths") or []:
            with open(path, encoding="utf-8") as handle:
                for row in csv.DictReader(handle):
                    row_number += 1
                    if row_number <= done:
                        continue
                    if KILL_AFTER_ROWS and len(ROWS_READ) >= KILL_AFTER_ROWS[0]:
                        KILL_AFTER_ROWS.clear()
                        raise SystemExit("the worker was killed")
                    ROWS_READ.append(row["date"])
                    items.append(row)
                    if len(items) == 2:
                        yield Batch(items=items, cursor={"rows": row_number})
                        items = []
        yield Batch(items=items, cursor={"rows": row_number})

    def transform(self, raw) -> Record:
        return Record(external_id=raw["date"], kind="steps", title=f"{raw['steps']} steps", data=dict(raw))


registry.register(KEY)(StepArchiveConnector)  # once: Python imports this module once per process
