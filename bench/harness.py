"""The benchmark table: each scenario measured beside the floor (the bare library doing only the
fetch or parse) or the dedicated tool users would pick, with the ratio and the target.

`make bench` runs every scenario module in a child process per database (bench/__main__.py):
PostgreSQL first (the primary column, its ratios and targets), then SQLite for the modules that
set SQLITE_TOO = True (the hub's time only, as a second column). Each child writes its Report as
JSON; the parent merges them into one table.

Contenders take turns in the same rounds (round i: hub, floor, peers...), and a row's ratio is
the median of the per-round ratios (`median_ratio`): a slow moment of the shared machine hits
the contenders of that round alike instead of deciding the comparison.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

PRIMARY = "primary"
SECONDARY = "secondary"


def role() -> str:
    """primary: every contender, ratios and targets; secondary: the hub (and cheap floors) only."""
    return os.environ.get("BENCH_ROLE", PRIMARY)


def is_primary() -> bool:
    return role() == PRIMARY


def database_label() -> str:
    return os.environ.get("BENCH_DB_LABEL", "")


def median(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def median_ratio(ours, baseline) -> float | None:
    """The median of the per-round ratios ours[i] / baseline[i]; rounds where either side is
    missing (None) or the baseline is zero are left out."""
    ratios = [o / b for o, b in zip(ours, baseline, strict=False) if o is not None and b]
    return statistics.median(ratios) if ratios else None


class Rounds:
    """Per-contender times of interleaved rounds: `rounds.time("hub", fn)` runs fn, keeps its
    time for this round and returns fn's result. A contender skipped in a round gets None there,
    so per-round ratios pair the right rounds."""

    def __init__(self):
        self.times: dict[str, list[float | None]] = {}
        self.count = 0

    def start(self):
        self.count += 1
        for values in self.times.values():
            values.append(None)

    def record(self, name: str, seconds: float):
        values = self.times.setdefault(name, [None] * self.count)
        values[self.count - 1] = seconds

    def time(self, name: str, fn, *args, **kwargs):
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        self.record(name, time.perf_counter() - start)
        return result

    def has(self, name: str) -> bool:
        return any(v is not None for v in self.times.get(name, []))

    def median(self, name: str) -> float | None:
        return median(self.times.get(name, []))

    def ratio(self, name: str, baseline: str) -> float | None:
        return median_ratio(self.times.get(name, []), self.times.get(baseline, []))

    def all(self, name: str) -> str:
        return ", ".join("-" if v is None else f"{v:.3f}" for v in self.times.get(name, []))

    def line(self) -> str:
        i = self.count - 1
        return ", ".join(f"{k} {v[i]:.3f} s" for k, v in self.times.items() if v[i] is not None)


@dataclass
class Row:
    scenario: str
    ours: float  # seconds (or MB for memory rows)
    baseline_name: str = ""
    baseline: float | None = None
    target: str = ""
    met: bool | None = None
    unit: str = "s"
    note: str = ""
    # Set when rounds were interleaved: the median of the per-round ratios, which a slow moment of
    # the machine skews less than the ratio of the two medians.
    measured_ratio: float | None = None
    # The same scenario's hub time on the second database (SQLite), merged in by the parent.
    ours_secondary: float | None = None

    @property
    def ratio_value(self) -> float | None:
        if self.measured_ratio is not None:
            return self.measured_ratio
        if not self.baseline:
            return None
        return self.ours / self.baseline

    @property
    def ratio(self) -> str:
        value = self.ratio_value
        return "" if value is None else f"{value:.2f}x"


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    # Column label per database ("PG", "SQLite") and what each stores durably (read from the server).
    primary: str = ""
    secondary: str = ""
    durability: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, **kwargs) -> Row:
        row = Row(**kwargs)
        self.rows.append(row)
        print(
            f"  {row.scenario}: {row.ours:.3f} {row.unit}"
            + (f" vs {row.baseline:.3f}" if row.baseline is not None else "")
            + (f" ({row.ratio})" if row.ratio else "")
        )
        return row

    # -- across processes -------------------------------------------------------------------

    def dump(self, path: Path):
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> Report:
        data = json.loads(path.read_text())
        data["rows"] = [Row(**row) for row in data["rows"]]
        return cls(**data)

    def merge_secondary(self, other: Report):
        """Put the other database's hub times beside ours, row by row (same scenario name); its
        ratio, when it has one, goes into the row's note."""
        self.secondary = other.primary
        self.durability.update(other.durability)
        self.notes += [n for n in other.notes if n not in self.notes]
        theirs = {row.scenario: row for row in other.rows}
        for row in self.rows:
            match = theirs.get(row.scenario)
            if match is None or match.unit != row.unit:
                continue
            row.ours_secondary = match.ours
            if match.ratio and match.baseline_name == row.baseline_name:
                extra = f"{other.primary} ratio {match.ratio}"
                row.note = f"{row.note}; {extra}" if row.note else extra

    # -- the table --------------------------------------------------------------------------

    def markdown(self) -> str:
        first = f"hub ({self.primary})" if self.primary else "hub"
        ratio = f"ratio ({self.primary})" if self.primary and self.secondary else "ratio"
        header = ["scenario", first, *([f"hub ({self.secondary})"] if self.secondary else [])]
        header += ["baseline", ratio, "target", "met"]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for r in self.rows:
            base = f"{r.baseline_name}: {r.baseline:.3f} {r.unit}" if r.baseline is not None else r.baseline_name
            met = "" if r.met is None else ("yes" if r.met else "NO")
            cells = [r.scenario, f"{r.ours:.3f} {r.unit}"]
            if self.secondary:
                cells.append("" if r.ours_secondary is None else f"{r.ours_secondary:.3f} {r.unit}")
            cells += [base, r.ratio, r.target, met]
            lines.append("| " + " | ".join(cells) + " |")
        notes = [f"- {r.scenario}: {r.note}" for r in self.rows if r.note]
        notes += [f"- Durability, hub ({label}): {text}" for label, text in self.durability.items()]
        notes += [f"- {n}" for n in self.notes]
        return "\n".join(lines + (["", *notes] if notes else []))


def read_durability() -> str:
    """What the hub's database promises on commit, read from the live connection."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            values = {}
            for name in ("fsync", "synchronous_commit", "wal_sync_method", "full_page_writes"):
                cursor.execute(f"SHOW {name}")
                values[name] = cursor.fetchone()[0]
            waits = values["fsync"] == "on" and values["synchronous_commit"] in ("on", "remote_write", "remote_apply")
            return ", ".join(f"{k}={v}" for k, v in values.items()) + (
                " (every commit of records, cursors, job endings and the audit log waits for its WAL flush;"
                " a sync batch is one transaction; rate-limit hits, request counters and heartbeats commit"
                " without waiting: integrations/sync/bookkeeping.py)"
                if waits
                else " (commits do not wait for the disk)"
            )
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA journal_mode")
            journal = cursor.fetchone()[0]
            cursor.execute("PRAGMA synchronous")
            level = cursor.fetchone()[0]
            names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
            meaning = (
                " (WAL fsynced at checkpoints, not at each commit: a power cut may lose the last commits,"
                " never corrupt the file)"
                if str(journal).lower() == "wal" and level == 1
                else ""
            )
            return f"journal_mode={journal}, synchronous={names.get(level, level)}{meaning}"
    return connection.vendor


@contextmanager
def timed():
    box = {}
    start = time.perf_counter()
    yield box
    box["seconds"] = time.perf_counter() - start
