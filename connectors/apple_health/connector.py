"""Apple Health: the export.zip of the iPhone Health app (Profile > Export All Health Data).

Imported: the Records of every quantity and category type as series, one health_series record per
record type, source and local day (a sample's day is the day it starts, sleep's the day it ends)
holding every sample of that day (start, end, value, unit, device, source version, metadata; for
a category type its state, and its length in minutes as the value) and the day's aggregates
(count, sum or average, lowest, highest; a category type's minutes per state: sleep stages).
Raw sensor samples are a series, not events: a Watch writes millions of them (a heart rate every
few minutes), and storing each as its own record made the hub store, hash, match into the
timeline and announce millions of rows that nobody looks at one by one. A day's series is what a
chart, a search or an automation uses. (The sample's creationDate, when the phone wrote it down, is
not kept.) Every Workout with its GPX route is a workout, and each day's ActivitySummary gives one
health_sample per ring (move, exercise, stand, with its goal). The record types chosen in the
integration's settings filter what is kept; none chosen means all; "since" keeps the days from
that date on.

The export has no record ids: a day's series is keyed by its type, source and day, and merged with
what is stored under that key (each sample once, by its start, end, value, state and unit), so
importing the same export changes nothing, a newer overlapping export adds the new samples to
their days, a day whose samples come in two parts of the file is one record, and a Record
repeated inside a Correlation (blood pressure, food) counts once. See series.py for how the
samples are grouped while streaming with bounded memory. Workouts are keyed by activity, source
and times (a corrected distance updates the workout); activity rings by day and ring.
https://support.apple.com/guide/iphone/share-your-health-data-iph5ede58c3d/ios
"""

from __future__ import annotations

import datetime
import functools
import gc
import posixpath
import re
import zipfile
from pathlib import Path

from connectors import archives
from connectors.apple_health import daily, health_xml, reader, series
from connectors.apple_health.series import iso
from connectors.base import Record
from connectors.errors import ItemError
from connectors.registry import registry

QUANTITY = "HKQuantityTypeIdentifier"
CATEGORY = "HKCategoryTypeIdentifier"
METRICS = {
    "StepCount": "steps",
    "HeartRate": "heart_rate",
    "DistanceWalkingRunning": "distance",
    "ActiveEnergyBurned": "active_energy",
    "BasalEnergyBurned": "basal_energy",
    "BodyMass": "weight",
    "SleepAnalysis": "sleep",
    "MindfulSession": "mindfulness",
}
# The integration's "record types" choices; types not named here are "other".
CHOICES = {"steps", "distance", "active_energy", "heart_rate", "sleep", "weight", "mindfulness"}
RINGS = {  # ActivitySummary attribute -> (metric, goal attribute, unit attribute or unit)
    "activeEnergyBurned": ("move", "activeEnergyBurnedGoal", "activeEnergyBurnedUnit"),
    "appleMoveTime": ("move_time", "appleMoveTimeGoal", "min"),
    "appleExerciseTime": ("exercise_time", "appleExerciseTimeGoal", "min"),
    "appleStandHours": ("stand_hours", "appleStandHoursGoal", "count"),
}
DISTANCE_TYPES = ("DistanceWalkingRunning", "DistanceCycling", "DistanceSwimming", "DistanceWheelchair",
                  "DistanceDownhillSnowSports")  # fmt: skip
TO_METRES = {"m": 1.0, "km": 1000.0, "mi": 1609.344, "ft": 0.3048, "yd": 0.9144, "cm": 0.01}
TO_KCAL = {"kcal": 1.0, "Cal": 1.0, "cal": 0.001, "kJ": 0.239006}
TO_SECONDS = {"min": 60.0, "s": 1.0, "hr": 3600.0, "h": 3600.0}
OVERFLOW, BAD_RECORD = "overflow", "bad record"  # what the Record reader hands the import loop


@functools.cache
def snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


@functools.cache
def metric_of(hk_type: str) -> str:
    short = hk_type.removeprefix(QUANTITY).removeprefix(CATEGORY)
    return METRICS.get(short) or snake(short)


def when(text: str | None) -> datetime.datetime:
    """Health's "2024-03-01 07:15:00 +0100" (fromisoformat once the space before the offset is
    gone: strptime was half the time of a whole import)."""
    if not text:
        raise ValueError("a date is missing")
    text = text.strip()
    try:
        if len(text) != 25 or text[19] != " ":
            raise ValueError
        value = datetime.datetime.fromisoformat(text[:19] + text[20:])
    except ValueError:
        raise ValueError(f"the date {text[:40]!r} is not in Health's format") from None
    if value.tzinfo is None:
        raise ValueError(f"the date {text[:40]!r} is not in Health's format")
    return value


def number(text: str | None, what: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        raise ValueError(f"{what} {str(text)[:40]!r} is not a number") from None


@registry.register("apple_health")
class AppleHealth(archives.ArchiveConnector):
    EXPORT = "apple-health"
    ENTRIES_VERSION = "2"  # 2: samples grouped as rows, a group handed out at the Record that overflowed it

    @classmethod
    def wanted(cls, member: archives.Member) -> bool:
        # "export.xml" in English; localized iPhones name it otherwise (the CDA file holds clinical
        # documents, not imported): any XML whose root is HealthData is the export.
        base = member.basename.lower()
        if not base.endswith(".xml") or base.endswith("_cda.xml") or not member.size:
            return False
        return b"<HealthData" in member.head(64 * 1024)

    @classmethod
    def daily_charts(cls, items, days: int = 30):
        return daily.daily_charts(items, days)

    # -- which records -------------------------------------------------------------------------
    def _wants(self, metric: str) -> bool:
        chosen = set(self.config.get("record_types") or [])
        if not chosen:
            return True
        return metric in chosen or ("other" in chosen and metric not in CHOICES)

    def _since(self) -> datetime.date | None:
        since = self.config.get("since")
        if isinstance(since, str) and since:
            return datetime.date.fromisoformat(since[:10])
        return since or None

    # -- parsing -------------------------------------------------------------------------------
    @functools.cached_property
    def _types(self) -> dict:
        return {}

    def _type(self, hk_type: str) -> tuple | bool:
        """(is a category type, is sleep) of a wanted record type, else False (cached)."""
        metric = metric_of(hk_type)
        found = (hk_type.startswith(CATEGORY), metric == "sleep") if self._wants(metric) else False
        self._types[hk_type] = found
        return found

    # From this size on, export.xml is parsed by a child process while the worker stores what it has
    # read (reader.py): both cores work, about halving a big import. A small file is parsed here
    # (starting a process would cost more than it saves).
    reader_process_from = 16 * 1024 * 1024

    def parse(self, member: archives.Member, stream):
        if member.size < self.reader_process_from:
            yield from self.parse_here(member, stream)
            return
        # Millions of sample dicts pass through the worker too (made from rows, merged, encoded): all
        # acyclic, freed by reference counting, but each would make the cyclic collector rescan
        # the batch and, as they age, the whole process. It is paused while the import runs and
        # collects whatever cycles the job made once it is back on.
        collecting = gc.isenabled()
        gc.disable()
        try:
            for entry, thing in reader.parse_in_child(member, stream, self.config):
                if isinstance(thing, tuple):  # ("error", message, external_id)
                    thing = ItemError(thing[1], external_id=thing[2])
                yield entry, thing
        finally:
            if collecting:
                gc.enable()

    def parse_here(self, member: archives.Member, stream):
        routes = RouteFinder(member)
        try:
            yield from self._parse(member, stream, routes)
        finally:
            routes.close()

    def _parse(self, member, stream, routes):
        since = self._since()
        since_day = since.isoformat() if since else ""
        groups = series.OpenGroups()
        on_record = self._record_reader(groups, since_day)
        entry = 0  # each thing yielded is its own entry: a day's group, a workout, a ring, an error

        def problem(line, what, exc):
            return ItemError(
                f"{member.label} line {line}: {what} skipped, {exc}.", external_id=f"{member.label}#{line}"
            )

        try:
            for what, line, element, _metadata in health_xml.elements(stream, on_record):
                if what == OVERFLOW:  # element: the groups handed out at that Record
                    for key, rows in element:
                        yield entry, self._group(key, rows)
                        entry += 1
                elif what == BAD_RECORD:  # element: the ValueError
                    yield entry, problem(line, "Record", element)
                    entry += 1
                elif what == health_xml.BROKEN:  # element: the parser's message
                    yield (
                        entry,
                        ItemError(
                            f"{member.label} line {line}: the XML is broken here ({element}); "
                            "what could be read was imported.",
                            external_id=f"{member.label}#{line}",
                        ),
                    )
                    entry += 1
                    continue
                else:
                    try:
                        raws = self._element(element, routes)
                    except ValueError as exc:
                        yield entry, problem(line, element.tag, exc)
                        entry += 1
                        continue
                    for raw in raws:
                        if since_day and raw["start"][:10] < since_day:
                            continue
                        yield entry, raw
                        entry += 1
        except (archives.TruncatedFile, ItemError):
            # The file ends early: the days read so far are kept, then the engine says where it broke.
            for key, samples in groups.flush():
                yield entry, self._group(key, samples)
                entry += 1
            raise
        for key, samples in groups.flush():
            yield entry, self._group(key, samples)
            entry += 1

    def _element(self, element, routes) -> list[dict]:
        if element.tag == "Workout":
            return [self._workout(element, routes)] if self._wants("workouts") else []
        if element.tag == "ActivitySummary":
            return self._rings(element) if self._wants("activity") else []
        return []

    def _record_reader(self, groups: series.OpenGroups, since_day: str):
        """on_record(attributes, metadata) for health_xml.elements: adds a Record to its day's
        group. The per-sample path of an import (millions of calls), so what it uses is bound
        once here. Returns None, (OVERFLOW, 0, [(key, rows) handed out], None) when more groups or
        samples were open than allowed, or (BAD_RECORD, None, ValueError, None): the
        parser fills in the Record's line."""
        types, describe, add, overflow = self._types, self._type, groups.add, groups.overflow
        epoch = series.epoch
        # One string object for the many samples each device, version and unit repeats on: less
        # memory, and marshal sends a repeated object once per frame.
        shared = _SHARED.setdefault

        def on_record(attrib, metadata: dict | None):
            get = attrib.get
            hk_type = get("type") or ""
            described = types.get(hk_type)
            if described is None:
                described = describe(hk_type)
            if not described:
                return None
            categorical, sleep = described
            try:
                start_text, end_text = get("startDate"), get("endDate")
                start = iso(start_text)
                end = start if end_text == start_text else iso(end_text)  # an instant (heart rate)
                day = end[:10] if sleep else start[:10]
                if day < since_day:
                    return None
                raw_value = get("value")
                if categorical:
                    # A category sample's value names a state ("HKCategoryValueSleepAnalysisAsleepCore");
                    # its measure is how long it lasted.
                    value = round((epoch(end) - epoch(start)) / 60, 3)
                    category, unit = category_of(hk_type, raw_value or "") or "", "min"
                else:
                    try:
                        value = float(raw_value)
                    except (TypeError, ValueError):
                        raise ValueError(f"the value {str(raw_value)[:40]!r} is not a number") from None
                    category, unit = "", get("unit") or ""
                    if unit:
                        unit = shared(unit, unit)
            except ValueError as exc:
                return (BAD_RECORD, None, exc, None)
            device, version = get("device"), get("sourceVersion")
            if device:
                device = shared(device, device)
            if version:
                version = shared(version, version)
            if add(
                (hk_type, get("sourceName") or "", day), (start, end, value, category, unit, device, version, metadata)
            ):
                # Handed out at this Record, whatever the parser has read beyond it: the groups (and
                # so the entries an interrupted import resumes by) depend on the file alone.
                return (OVERFLOW, 0, list(overflow()), None)
            return None

        return on_record

    def _group(self, key: tuple, rows: list) -> dict:
        hk_type, source, day = key
        if len(_SHARED) > 20_000:  # real exports name a device by its object's address: many
            _SHARED.clear()
        return {
            "record": "series",
            "id": series_id(hk_type, source, day),
            "meta": {"metric": metric_of(hk_type), "hk_type": hk_type, "source": source, "date": day},
            "rows": rows,
        }

    def _workout(self, element, routes) -> dict:
        activity_type = element.get("workoutActivityType") or ""
        start, end = when(element.get("startDate")), when(element.get("endDate"))
        duration = element.get("duration")
        duration_s = (
            number(duration, "the duration") * TO_SECONDS.get(element.get("durationUnit") or "min", 60.0)
            if duration
            else (end - start).total_seconds()
        )
        distance_m = energy = None
        if element.get("totalDistance"):
            distance_m = number(element.get("totalDistance"), "the distance") * TO_METRES.get(
                element.get("totalDistanceUnit") or "km", 1000.0
            )
        if element.get("totalEnergyBurned"):
            energy = number(element.get("totalEnergyBurned"), "the energy") * TO_KCAL.get(
                element.get("totalEnergyBurnedUnit") or "kcal", 1.0
            )
        statistics = {}
        for stat in element.iter("WorkoutStatistics"):  # iOS 16+: totals moved here
            short = (stat.get("type") or "").removeprefix(QUANTITY)
            value = stat.get("sum") or stat.get("average")
            if value is None:
                continue
            statistics[metric_of(stat.get("type") or "")] = {
                k: stat.get(k) for k in ("sum", "average", "minimum", "maximum", "unit") if stat.get(k)
            }
            if short in DISTANCE_TYPES and distance_m is None:
                distance_m = number(value, "the distance") * TO_METRES.get(stat.get("unit") or "km", 1000.0)
            if short == "ActiveEnergyBurned" and energy is None:
                energy = number(value, "the energy") * TO_KCAL.get(stat.get("unit") or "kcal", 1.0)
        route, route_file, route_problem = None, "", ""
        for reference in element.iter("FileReference"):
            route_file = reference.get("path") or ""
            route, route_problem = routes.points(route_file)
            break
        data = {
            "activity": snake(activity_type.removeprefix("HKWorkoutActivityType")),
            "start": start.isoformat(),
            "end": end.isoformat(),
            "duration_s": round(duration_s, 3),
            "distance_m": round(distance_m, 2) if distance_m is not None else None,
            "energy_kcal": round(energy, 2) if energy is not None else None,
            "source": element.get("sourceName") or "",
            "hk_type": activity_type,
        }
        if route:
            data["route"] = route
        if route_file:
            data["route_file"] = route_file
        if route_problem:
            data["route_problem"] = route_problem
        if statistics:
            data["statistics"] = statistics
        metadata = {m.get("key"): m.get("value") for m in element if m.tag == "MetadataEntry"}
        if metadata:
            data["metadata"] = metadata
        data["id"] = archives.content_id("workout", activity_type, data["source"], data["start"], data["end"])
        return {"record": "workout", **data}

    def _rings(self, element) -> list[dict]:
        day = element.get("dateComponents") or ""
        try:
            date = datetime.date.fromisoformat(day)
        except ValueError:
            raise ValueError(f"the day {day[:20]!r} is not a date") from None
        start = datetime.datetime.combine(date, datetime.time(), tzinfo=datetime.UTC)
        found = []
        for attribute, (metric, goal, unit) in RINGS.items():
            if element.get(attribute) is None:
                continue
            found.append(
                {
                    "record": "ring",
                    "id": f"activity:{date.isoformat()}:{metric}",
                    "metric": metric,
                    "value": number(element.get(attribute), metric),
                    "goal": number(element.get(goal), f"the {metric} goal") if element.get(goal) else None,
                    "unit": element.get(unit) or ("kcal" if metric == "move" else unit),
                    "start": start.isoformat(),
                    "end": (start + datetime.timedelta(days=1)).isoformat(),
                    "source": "Activity",
                    "category": "activity_ring",
                }
            )
        return found

    # -- records -------------------------------------------------------------------------------
    @staticmethod
    def weigh(raw) -> int:
        return 1 + len(raw["rows"]) // series.SAMPLES_PER_WEIGHT if raw.get("record") == "series" else 1

    def list_changes(self, cursor):
        for batch in super().list_changes(cursor):
            batch.items = self._merged(batch.items)
            yield batch

    def _merged(self, raws: list) -> list:
        """A batch's items with each day's group once, holding the samples of every part of it in
        the batch and of the record already stored under its id (an earlier part of this import,
        an earlier export): the union, each sample once."""
        kept, groups = [], {}
        for raw in raws:
            if raw.get("record") != "series":
                kept.append(raw)
            elif raw["id"] in groups:
                groups[raw["id"]]["rows"].extend(raw["rows"])  # samples_of keeps the first of each
            else:
                groups[raw["id"]] = raw
                kept.append(raw)
        for raw in groups.values():
            raw["samples"] = series.samples_of(raw.pop("rows"), raw["meta"]["hk_type"].startswith(CATEGORY))
        if groups:
            for external_id, data in self.ctx.known_data(list(groups)).items():
                if isinstance(data, dict) and external_id in groups:
                    stored = series.expand(data)
                    stored.update(groups[external_id]["samples"])  # this export's copy of a sample wins
                    groups[external_id]["samples"] = stored
        return kept

    def transform(self, raw) -> Record:
        if raw["record"] == "series":
            meta = raw["meta"]
            metric = meta["metric"]
            data = series.build(meta, raw["samples"], additive=metric in daily.ADDITIVE, sleep=metric == "sleep")
            start = datetime.datetime.fromisoformat(data["start"])
            return Record(
                external_id=raw["id"], kind="health_series", title=series_title(data), occurred_at=start, data=data
            )
        data = {k: v for k, v in raw.items() if k not in ("record", "id")}
        start = datetime.datetime.fromisoformat(raw["start"])
        if raw["record"] == "workout":
            minutes = round(raw["duration_s"] / 60)
            title = f"{raw['activity'].replace('_', ' ').capitalize()}, {minutes} min"
            return Record(external_id=raw["id"], kind="workout", title=title, occurred_at=start, data=data)
        unit = f" {raw['unit']}" if raw.get("unit") else ""
        title = f"{raw['metric'].replace('_', ' ').capitalize()}: {raw['value']:g}{unit}"
        return Record(external_id=raw["id"], kind="health_sample", title=title, occurred_at=start, data=data)


def series_id(hk_type: str, source: str, day: str) -> str:
    return archives.content_id("series", hk_type, source, day)


def series_title(data: dict) -> str:
    """ "Steps on 1 Mar 2024: 5321 count (12 samples, Alex's iPhone)"."""
    day = datetime.date.fromisoformat(data["date"])
    what = data["metric"].replace("_", " ").capitalize()
    value = data["value"]
    if "minutes" in data:
        amount = f"{value / 60:.1f} h" if value >= 60 else f"{value:g} min"
    else:
        shown = f"{value:.1f}" if isinstance(value, float) and not value.is_integer() else f"{value:g}"
        amount = f"{'average ' if 'avg' in data else ''}{shown} {data.get('unit') or ''}".rstrip()
    samples = f"{data['count']} sample{'s' if data['count'] != 1 else ''}"
    source = f", {data['source']}" if data.get("source") else ""
    return f"{what} on {day.day} {day:%b %Y}: {amount} ({samples}{source})"


_SHARED: dict[str, str] = {}  # the first string object of each device, version and unit met


@functools.cache
def category_of(hk_type: str, value: str) -> str | None:
    state = re.sub(r"^HKCategoryValue(" + re.escape(hk_type[len(CATEGORY) :]) + ")?", "", value)
    return snake(state) or None


class RouteFinder:
    """Workout routes: a FileReference "/workout-routes/route_2024-03-01_7.15am.gpx" names a file
    next to export.xml (in the zip, or in the folder of an unzipped export)."""

    def __init__(self, member: archives.Member):
        self.member = member
        self.folder = posixpath.dirname(member.name) if member.archive else str(Path(member.name).parent)
        self._zip: zipfile.ZipFile | None = None

    def points(self, reference: str) -> tuple[list | None, str]:
        relative = reference.lstrip("/")
        if ".." in relative.split("/"):
            return None, "the route's path points outside the export"
        try:
            if self.member.archive:
                name = posixpath.join(self.folder, relative) if self.folder else relative
                if self._zip is None:
                    self._zip = zipfile.ZipFile(self.member.archive)
                info = self._zip.getinfo(name)
                if archives.unsafe_reason(info):
                    return None, f"the route file was refused: {archives.unsafe_reason(info)}"
                with self._zip.open(info) as stream:
                    return health_xml.route_points(stream), ""
            with open(Path(self.folder) / relative, "rb") as stream:
                return health_xml.route_points(stream), ""
        except (KeyError, FileNotFoundError):
            return None, "the route file is not in the export"
        except (ValueError, TypeError, OSError, zipfile.BadZipFile, health_xml.etree.XMLSyntaxError) as exc:
            return None, f"the route file could not be read ({type(exc).__name__})"

    def close(self):
        if self._zip is not None:
            self._zip.close()
