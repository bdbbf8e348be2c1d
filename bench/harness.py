"""The benchmark table: each scenario measured beside the floor (the bare library doing only the
fetch or parse) or the dedicated tool users would pick, with the ratio and the target."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field


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

    @property
    def ratio(self) -> str:
        if self.measured_ratio is not None:
            return f"{self.measured_ratio:.2f}x"
        if not self.baseline:
            return ""
        return f"{self.ours / self.baseline:.2f}x"


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)

    def add(self, **kwargs) -> Row:
        row = Row(**kwargs)
        self.rows.append(row)
        print(f"  {row.scenario}: {row.ours:.3f} {row.unit}" + (f" vs {row.baseline:.3f}" if row.baseline else ""))
        return row

    def markdown(self) -> str:
        lines = [
            "| scenario | hub | baseline | ratio | target | met |",
            "|---|---|---|---|---|---|",
        ]
        for r in self.rows:
            base = f"{r.baseline_name}: {r.baseline:.3f} {r.unit}" if r.baseline is not None else r.baseline_name
            met = "" if r.met is None else ("yes" if r.met else "NO")
            lines.append(f"| {r.scenario} | {r.ours:.3f} {r.unit} | {base} | {r.ratio} | {r.target} | {met} |")
        notes = [f"- {r.scenario}: {r.note}" for r in self.rows if r.note]
        return "\n".join(lines + (["", *notes] if notes else []))


@contextmanager
def timed():
    box = {}
    start = time.perf_counter()
    yield box
    box["seconds"] = time.perf_counter() - start
