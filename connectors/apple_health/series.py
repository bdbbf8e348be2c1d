"""A day of one Health record type from one source, as one record: the series.

A Watch writes a heart rate every few minutes and a step count every few minutes from each
device: millions of samples per GB of export.xml. They are measurements of a series, not events,
so they are stored grouped per (record type, source, local day): ONE record with every sample kept
(start, end, value, unit, device, source version, metadata) and the day's aggregates. A sample
belongs to the local day of its start; sleep to the day it ends (the night before that morning).

Grouping while streaming: export.xml lists Records by type, then mostly by date, but not strictly
(sources interleave, a Correlation repeats Records later in the file). `OpenGroups` keeps the
groups being filled in memory and hands them out when the record type changes, or the least
recently fed ones when more than MAX_OPEN_GROUPS groups or MAX_OPEN_SAMPLES samples are open, so
memory stays bounded whatever the file. A group that comes back later (or in a newer export) has
the same external id: the connector merges it with what is already stored under that id (the
union of the samples, each sample once by its identity: start, end, value, category, unit), so no
sample is ever lost or counted twice and an unchanged day hashes the same.

Times are kept as Health wrote them, with their own offset, in ISO 8601 ("2024-03-01 07:15:00
+0100" -> "2024-03-01T07:15:00+01:00"): by slicing, checked by a pattern and cached date and
offset parses, no datetime per sample.
"""

from __future__ import annotations

import datetime
import re
from collections import OrderedDict

MAX_OPEN_GROUPS = 64
MAX_OPEN_SAMPLES = 60_000
SAMPLES_PER_WEIGHT = 50  # a batch holds about batch_size() x this many samples at most

_HEALTH_TIME = re.compile(r"\d{4}-[01]\d-[0-3]\d [0-2]\d:[0-5]\d:[0-5]\d [+-][01]\d[0-5]\d").fullmatch
_DAYS: dict[str, int] = {}  # "2024-03-01" -> its ordinal, for the days met so far (checked once)
_OFFSETS: dict[str, tuple[str, int]] = {}  # "+0100" -> ("+01:00", 3600)


def _day(text: str) -> int:
    ordinal = _DAYS.get(text)
    if ordinal is None:
        ordinal = datetime.date.fromisoformat(text).toordinal()  # ValueError for 2024-02-30
        if len(_DAYS) > 100_000:
            _DAYS.clear()
        _DAYS[text] = ordinal
    return ordinal


def _offset(text: str) -> tuple[str, int]:
    found = _OFFSETS.get(text)
    if found is None:
        seconds = (int(text[1:3]) * 3600 + int(text[3:5]) * 60) * (-1 if text[0] == "-" else 1)
        found = _OFFSETS[text] = (f"{text[:3]}:{text[3:5]}", seconds)
    return found


_TAILS: dict[str, str] = {}  # " 07:15:00 +0100" -> "T07:15:00+01:00", for the tails met so far


def iso(text: str | None) -> str:
    """Health's "2024-03-01 07:15:00 +0100" as ISO 8601 "2024-03-01T07:15:00+01:00"; ValueError
    naming the text when it is missing or not in Health's format. A day and a time-with-offset
    are each checked once, then found in a cache (two slices and two look-ups per date)."""
    try:
        if len(text) == 25 and text[:10] in _DAYS:
            return text[:10] + _TAILS[text[10:]]
    except (KeyError, TypeError):
        pass
    return _checked_iso(text)


def _checked_iso(text: str | None) -> str:
    if not text:
        raise ValueError("a date is missing")
    if not _HEALTH_TIME(text):
        stripped = text.strip()
        if not _HEALTH_TIME(stripped):
            raise ValueError(f"the date {text[:40]!r} is not in Health's format")
        text = stripped
    if text[11:13] > "23":
        raise ValueError(f"the date {text[:40]!r} is not in Health's format")
    try:
        _day(text[:10])
    except ValueError:
        raise ValueError(f"the date {text[:40]!r} is not in Health's format") from None
    tail = _TAILS.get(text[10:])
    if tail is None:
        if len(_TAILS) > 100_000:
            _TAILS.clear()
        tail = _TAILS[text[10:]] = f"T{text[11:19]}{_offset(text[20:25])[0]}"
    return text[:10] + tail


def epoch(value: str) -> int:
    """Seconds since 1970 of an ISO time that iso() made (exact: its own offset applied)."""
    seconds = (
        (_day(value[:10]) - 719163) * 86400 + int(value[11:13]) * 3600 + int(value[14:16]) * 60 + int(value[17:19])
    )
    return seconds - _offset(value[19:22] + value[23:25])[1]


def identity(sample: dict) -> tuple:
    """What makes two samples the same measurement (a Record repeated inside a Correlation, the
    same day in two exports)."""
    return (sample["start"], sample["end"], sample["value"], sample.get("category") or "", sample.get("unit") or "")


# A sample as the parse collects it: a tuple, ROW = (start, end, value, category or "", unit,
# device, source version, metadata), its first five fields its identity(). The parse (the reader
# process for a big file) only groups rows; the worker makes them samples (samples_of), each once.
# That splits the per-sample work between the two processes and sends one small tuple per sample
# between them instead of a dict and its identity.


def samples_of(rows: list[tuple], categorical: bool) -> dict:
    """{identity: sample} of a group's rows, the first of each identity kept."""
    found = {}
    for row in rows:
        key = row[:5]
        if key in found:
            continue
        start, end, value, category, unit, device, version, metadata = row
        sample = {"start": start, "end": end, "value": value, "unit": unit}
        if categorical:
            sample["category"] = category or None
        if device:
            sample["device"] = device
        if version:
            sample["source_version"] = version
        if metadata:
            sample["metadata"] = metadata
        found[key] = sample
    return found


class OpenGroups:
    """The groups being filled: {key: [row, ...]} in least-recently-fed order."""

    def __init__(self, max_groups: int | None = None, max_samples: int | None = None):
        self.groups: OrderedDict[tuple, list] = OrderedDict()
        self.max_groups = max_groups or MAX_OPEN_GROUPS
        self.max_samples = max_samples or MAX_OPEN_SAMPLES
        self.samples = 0
        self._last_key = None
        self._last_group = None

    def add(self, key: tuple, row: tuple) -> bool:
        """Add a sample's row to the group of `key` (a repeated sample too: samples_of keeps it
        once). True when more groups or samples are open than allowed: then overflow() hands the
        least recently fed ones out."""
        if key == self._last_key:  # consecutive samples of one group: the common case
            group = self._last_group
        else:
            group = self.groups.get(key)
            if group is None:
                group = self.groups[key] = []
            else:
                self.groups.move_to_end(key)
            self._last_key, self._last_group = key, group
        group.append(row)
        self.samples += 1
        return self.samples > self.max_samples or len(self.groups) > self.max_groups

    def overflow(self):
        """(key, rows) of the least recently fed groups while there are too many open."""
        while len(self.groups) > 1 and (len(self.groups) > self.max_groups or self.samples > self.max_samples):
            key, group = self.groups.popitem(last=False)
            if key == self._last_key:
                self._last_key = self._last_group = None
            self.samples -= len(group)
            yield key, group

    def flush(self):
        """(key, rows) of every open group, in the order they were opened."""
        groups, self.groups = self.groups, OrderedDict()
        self.samples = 0
        self._last_key = self._last_group = None
        yield from groups.items()


# -- the stored record --------------------------------------------------------------------------------
SHARED = ("unit", "device", "source_version")  # kept once on the record, on a sample only where it differs


def expand(data: dict) -> dict:
    """{identity: sample} of a stored series record, each sample whole again."""
    defaults = {name: data[name] for name in SHARED if data.get(name)}  # a sample's None overrides them
    found = {}
    for stored in data.get("samples") or []:
        sample = {**defaults, **stored}
        found[identity(sample)] = sample
    return found


def _sort_key(sample: dict) -> tuple:
    return (epoch(sample["start"]), epoch(sample["end"]), *identity(sample))


def _in_time_order(samples: dict) -> tuple[list[dict], bool]:
    """The samples ({identity: sample}) by start, end, then identity: one total order, whatever
    order they came in; and whether all their times have one offset. Those sort as text by their
    identities (the common case: no DST change that day), others by their instants."""
    offsets = {key[0][19:] for key in samples}
    offsets.update(key[1][19:] for key in samples)
    if len(offsets) == 1:
        return [samples[key] for key in sorted(samples)], True
    return sorted(samples.values(), key=_sort_key), False


def build(meta: dict, samples: dict, *, additive: bool, sleep: bool) -> dict:
    """The data of one series record: the group's description (meta: metric, hk_type, source,
    date), its aggregates and its samples in time order. The samples are given as {identity:
    sample} and are used up (made compact in place)."""
    ordered, one_offset = _in_time_order(samples)
    first = ordered[0]
    last = max(ordered, key=(lambda s: s["end"]) if one_offset else (lambda s: epoch(s["end"])))
    data = {**meta, "start": first["start"], "end": last["end"]}
    for name in SHARED:
        if first.get(name):
            data[name] = first[name]
    values = [s["value"] for s in ordered]
    data["count"] = len(ordered)
    categorical = "category" in first or any("category" in s for s in ordered)
    if categorical:
        # A category sample's value is how long it lasted: minutes per state (sleep stages).
        minutes: dict[str, float] = {}
        for sample in ordered:
            state = sample.get("category") or "unspecified"
            minutes[state] = minutes.get(state, 0.0) + sample["value"]
        data["minutes"] = {state: round(total, 3) for state, total in sorted(minutes.items())}
        if sleep:
            data["value"] = round(sum(v for k, v in minutes.items() if k.startswith("asleep")), 3)
        else:
            data["value"] = round(sum(values), 3)
    elif additive:
        data["value"] = data["sum"] = round(sum(values), 6)
        data["min"], data["max"] = min(values), max(values)
    else:
        data["min"], data["max"] = min(values), max(values)
        data["value"] = data["avg"] = round(sum(values) / len(values), 6)
    shared = [name for name in SHARED if name in data]
    for sample in ordered:
        for name in shared:
            if sample.get(name) == data[name]:
                del sample[name]
            elif name not in sample:
                sample[name] = None  # has none, unlike the day: said so, or expand() would lend it the day's
    data["samples"] = ordered
    return data
