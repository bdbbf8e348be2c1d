"""Apple Health: the export.zip of the iPhone Health app (Profile > Export All Health Data).

Imported: every Record of a quantity or category type (a health_sample with metric, value, unit,
source, start and end), every Workout with its GPX route (a workout), and each day's
ActivitySummary (one health_sample per ring: move, exercise, stand, with its goal). The record
types chosen in the integration's settings filter what is kept; none chosen means all.

The export has no record ids: a sample is keyed by a hash of its type, source, times, value and
unit, so importing the same or a newer overlapping export adds nothing twice, and a Record repeated
inside a Correlation (blood pressure, food) is the same record. Workouts are keyed by activity,
source and times (a corrected distance updates the workout); activity rings by day and ring.
https://support.apple.com/guide/iphone/share-your-health-data-iph5ede58c3d/ios
"""

from __future__ import annotations

import datetime
import functools
import posixpath
import re
import zipfile
from pathlib import Path

from connectors import archives
from connectors.apple_health import daily, health_xml
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


def iso(text: str) -> str:
    """ISO 8601 of a date when() accepted: "2024-03-01 07:15:00 +0100" -> "2024-03-01T07:15:00+01:00"."""
    text = text.strip()
    return f"{text[:10]}T{text[11:19]}{text[20:23]}:{text[23:25]}"


def number(text: str | None, what: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        raise ValueError(f"{what} {str(text)[:40]!r} is not a number") from None


@registry.register("apple_health")
class AppleHealth(archives.ArchiveConnector):
    EXPORT = "apple-health"

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
    def parse(self, member: archives.Member, stream):
        routes = RouteFinder(member)
        since = self._since()
        correlated: set[str] = set()  # Records repeated inside Correlations are kept once
        try:
            yield from self._parse(member, stream, routes, since, correlated)
        finally:
            routes.close()

    def _parse(self, member, stream, routes, since, correlated):
        index = -1
        for element, line in health_xml.elements(stream):
            index += 1
            if element is None:
                number_, message = line
                yield (
                    index,
                    ItemError(
                        f"{member.label} line {number_}: the XML is broken here ({message}); "
                        "what could be read was imported.",
                        external_id=f"{member.label}#{number_}",
                    ),
                )
                continue
            try:
                raws = self._element(element, routes)
            except ValueError as exc:
                yield (
                    index,
                    ItemError(
                        f"{member.label} line {line}: {element.tag} skipped, {exc}.",
                        external_id=f"{member.label}#{line}",
                    ),
                )
                continue
            kept = []
            for raw in raws:
                if since and datetime.date.fromisoformat(raw["start"][:10]) < since:
                    continue
                if raw.get("from_correlation") or raw.get("correlated"):
                    if raw["id"] in correlated:
                        continue
                    correlated.add(raw["id"])
                kept.append(raw)
            if not kept:
                yield index, None
            for raw in kept:  # one element may give several records (a day's rings): same position
                yield index, raw

    def _element(self, element, routes) -> list[dict]:
        if element.tag == "Record":
            sample = self._sample(element)
            return [sample] if sample else []
        if element.tag == "Correlation":
            found = []
            for child in element.iter("Record"):
                sample = self._sample(child)
                if sample:
                    found.append({**sample, "from_correlation": element.get("type", "")})
            return found
        if element.tag == "Workout":
            return [self._workout(element, routes)] if self._wants("workouts") else []
        return self._rings(element) if self._wants("activity") else []

    def _sample(self, element) -> dict | None:
        attrs = dict(element.attrib)  # one call into lxml instead of one per attribute
        hk_type = attrs.get("type") or ""
        metric = metric_of(hk_type)
        if not self._wants(metric):
            return None
        start, end = when(attrs.get("startDate")), when(attrs.get("endDate"))
        raw_value = attrs.get("value")
        data = {
            "metric": metric,
            "unit": attrs.get("unit") or "",
            "start": iso(attrs["startDate"]),
            "end": iso(attrs["endDate"]),
            "source": attrs.get("sourceName") or "",
            "hk_type": hk_type,
        }
        if hk_type.startswith(CATEGORY):
            # A category sample's value names a state ("HKCategoryValueSleepAnalysisAsleepCore"); its
            # measure is how long it lasted.
            state = re.sub(r"^HKCategoryValue(" + re.escape(hk_type[len(CATEGORY) :]) + ")?", "", raw_value or "")
            data["category"] = snake(state) or None
            data["value"] = round((end - start).total_seconds() / 60, 3)
            data["unit"] = "min"
        else:
            data["value"] = number(raw_value, "the value")
        for key in ("sourceVersion", "device", "creationDate"):
            if attrs.get(key):
                data[snake(key)] = attrs[key]
        if len(element):
            metadata = {m.get("key"): m.get("value") for m in element.iter("MetadataEntry")}
            if metadata:
                data["metadata"] = metadata
        data["id"] = archives.content_id(
            "sample", hk_type, data["source"], data["start"], data["end"], raw_value, attrs.get("unit")
        )
        data["correlated"] = "Dietary" in hk_type or "BloodPressure" in hk_type
        return {"record": "sample", **data}

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
    def transform(self, raw) -> Record:
        data = {k: v for k, v in raw.items() if k not in ("record", "id", "correlated")}
        start = datetime.datetime.fromisoformat(raw["start"])
        if raw["record"] == "workout":
            minutes = round(raw["duration_s"] / 60)
            title = f"{raw['activity'].replace('_', ' ').capitalize()}, {minutes} min"
            return Record(external_id=raw["id"], kind="workout", title=title, occurred_at=start, data=data)
        unit = f" {raw['unit']}" if raw.get("unit") else ""
        title = f"{raw['metric'].replace('_', ' ').capitalize()}: {raw['value']:g}{unit}"
        if raw.get("category") and raw["record"] == "sample":
            title += f" ({raw['category'].replace('_', ' ')})"
        return Record(external_id=raw["id"], kind="health_sample", title=title, occurred_at=start, data=data)


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
