"""MyFitnessPal: the export zip (Settings > Export data; premium) holding three CSVs:
Nutrition-Summary-<from>-to-<to>.csv (one row per day and meal: Calories, Fat (g), ..., Protein
(g), Note), Exercise-Summary-...csv (Exercise, Type, Exercise Calories, Exercise Minutes, Sets,
Reps Per Set, Kilograms, Steps, Note) and Measurement-Summary-...csv (Date, then one column per
measurement: Weight, Body Fat %, Waist...).

Kinds: a meal's totals are a health_sample (metric "nutrition", value = calories, the other
nutrients under "nutrients"), each measurement a health_sample, each exercise a workout. The file
has no ids: a meal is keyed by day and meal, a measurement by day and name (a newer export
corrects them), an exercise by day, name and its rank that day. Measurements carry no unit in the
export: the integration's weight unit setting says which it is.
"""

from __future__ import annotations

import datetime
import math
import re

from connectors import archives
from connectors.base import Record
from connectors.errors import ItemError
from connectors.quicken import money
from connectors.registry import registry

NUTRITION = {"date": ["Date"], "meal": ["Meal"], "calories": ["Calories", "Energy"], "note": ["Note", "Notes"]}
EXERCISE = {
    "date": ["Date"],
    "exercise": ["Exercise", "Exercise Name"],
    "type": ["Type"],
    "calories": ["Exercise Calories", "Calories"],
    "minutes": ["Exercise Minutes", "Minutes"],
    "sets": ["Sets"],
    "reps": ["Reps Per Set"],
    "kilograms": ["Kilograms"],
    "steps": ["Steps"],
    "note": ["Note", "Notes"],
}
MEASUREMENT = {"date": ["Date"]}
FILES = re.compile(r"^(nutrition|exercise|measurement)-summary.*\.csv$")


def _day(text: str, order: str | None = None) -> datetime.date:
    text = (text or "").strip()
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        return money.spreadsheet_date(text, order)


def _number(text: str | None, what: str) -> float | None:
    """ "1,250" (a thousands comma: three digits follow) is 1250, "72,4" (a decimal comma, as a
    spreadsheet in a comma-decimal locale saves it) 72.4; NaN and Infinity are not numbers."""
    original = (text or "").strip()
    if not original:
        return None
    cleaned = original
    if "," in cleaned and "." not in cleaned and not re.fullmatch(r"-?\d{1,3}(,\d{3})+", cleaned):
        cleaned = cleaned.replace(",", ".")
    try:
        value = float(cleaned.replace(",", ""))
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ValueError(f"{what} {original[:20]!r} is not a number")
    return value


def _snake(name: str) -> str:
    name = name.replace("%", " percent")
    name = re.sub(r"\((?:g|mg|kg|lbs?|%)\)", "", name, flags=re.I)
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _span(day: datetime.date) -> tuple[str, str]:
    start = datetime.datetime.combine(day, datetime.time(), tzinfo=datetime.UTC)
    return start.isoformat(), (start + datetime.timedelta(days=1)).isoformat()


@registry.register("myfitnesspal")
class MyFitnessPal(archives.ArchiveConnector):
    EXPORT = "myfitnesspal"

    @classmethod
    def wanted(cls, member: archives.Member) -> bool:
        return bool(FILES.match(member.basename.lower()))

    def parse(self, member: archives.Member, stream):
        kind = FILES.match(member.basename.lower()).group(1)
        aliases = {"nutrition": NUTRITION, "exercise": EXERCISE, "measurement": MEASUREMENT}[kind]
        occurrences = archives.Occurrences()
        index = -1
        # A first pass over the dates: a file re-saved in a day-first locale is day-first throughout.
        dates = []  # damage part-way ends this pass where it is (reading_ahead): the dates before it count
        with archives.reading_ahead(member) as first:
            for _line, row in archives.csv_rows(first, member.label, aliases, required=("date",), needed=("date",)):
                if isinstance(row, dict):
                    dates.append(row["date"])
        order = money.file_order(dates)
        for line, row in archives.csv_rows(stream, member.label, aliases, required=("date",), needed=("date",)):
            index += 1
            if isinstance(row, ItemError):
                yield index, row
                continue
            try:
                day = _day(row["date"], order)
                found = getattr(self, f"_{kind}")(row, day, occurrences)
            except ValueError as exc:
                where = f"{member.label} line {line}"
                yield index, ItemError(f"{where}: row skipped, {exc}.", external_id=f"{member.label}#{line}")
                continue
            if not found:
                yield index, None
            for raw in found:
                yield index, raw

    def _nutrition(self, row: dict, day: datetime.date, _occurrences) -> list[dict]:
        meal = row.get("meal") or "Day"
        start, end = _span(day)
        nutrients = {}
        for name, value in row.items():
            if name in NUTRITION:
                continue
            number = _number(value, name)
            if number is not None:
                nutrients[_snake(name)] = number
        return [
            {
                "record": "sample",
                "id": f"mfp:nutrition:{day.isoformat()}:{meal.lower()}",
                "metric": "nutrition",
                "value": _number(row.get("calories"), "Calories") or 0.0,
                "unit": "kcal",
                "start": start,
                "end": end,
                "source": "MyFitnessPal",
                "category": meal.lower(),
                "nutrients": nutrients,
                "note": row.get("note", ""),
            }
        ]

    def _measurement(self, row: dict, day: datetime.date, _occurrences) -> list[dict]:
        start, _end = _span(day)
        found = []
        weight_unit = self.config.get("weight_unit") or "kg"
        for name, value in row.items():
            if name == "date":
                continue
            number = _number(value, name)
            if number is None:
                continue
            metric = _snake(name)
            unit = weight_unit if metric == "weight" else ("%" if "%" in name else "")
            found.append(
                {
                    "record": "sample",
                    "id": f"mfp:measurement:{day.isoformat()}:{metric}",
                    "metric": metric,
                    "value": number,
                    "unit": unit,
                    "start": start,
                    "end": start,
                    "source": "MyFitnessPal",
                    "category": None,
                }
            )
        return found

    def _exercise(self, row: dict, day: datetime.date, occurrences) -> list[dict]:
        name = row.get("exercise") or "Exercise"
        start, _end = _span(day)
        minutes = _number(row.get("minutes"), "Exercise Minutes")
        raw = {
            "record": "workout",
            "id": f"mfp:exercise:{day.isoformat()}:{name.lower()}:{occurrences.next(f'{day}|{name.lower()}')}",
            "activity": name,
            "start": start,
            "end": None,
            "duration_s": minutes * 60 if minutes is not None else None,
            "distance_m": None,
            "energy_kcal": _number(row.get("calories"), "Exercise Calories"),
            "source": "MyFitnessPal",
            "exercise_type": row.get("type", ""),
        }
        for key in ("sets", "reps", "kilograms", "steps"):
            value = _number(row.get(key), key)
            if value is not None:
                raw[key] = value
        if row.get("note"):
            raw["note"] = row["note"]
        return [raw]

    def transform(self, raw) -> Record:
        data = {k: v for k, v in raw.items() if k not in ("record", "id")}
        start = datetime.datetime.fromisoformat(raw["start"])
        if raw["record"] == "workout":
            minutes = f", {raw['duration_s'] / 60:g} min" if raw["duration_s"] is not None else ""
            return Record(external_id=raw["id"], kind="workout", title=f"{raw['activity']}{minutes}", occurred_at=start,
                          data=data)  # fmt: skip
        unit = f" {raw['unit']}" if raw["unit"] else ""
        label = raw["category"].capitalize() if raw["metric"] == "nutrition" else raw["metric"].replace("_", " ")
        title = f"{label.capitalize()}: {raw['value']:g}{unit}"
        return Record(external_id=raw["id"], kind="health_sample", title=title, occurred_at=start, data=data)
