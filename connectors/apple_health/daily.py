"""Daily values of one Health metric from the imported samples, for charts on the integration page.

Counts that add up over a day (steps, distance, energy, sleep minutes...) are summed per source
and the largest source total is the day's value: an iPhone and a Watch both count the same steps,
and Health itself keeps one of them rather than the sum. Other metrics (heart rate, weight) are
averaged over the day. A sample belongs to the local day of its start (the export keeps each
sample's own offset); sleep to the day it ends, the morning after the night. Only asleep stages
count as sleep (not "in bed" or "awake").

daily_range keeps a day's lowest, average and highest value (heart rate), and daily_charts picks
the integration page's charts: steps, sleep and heart rate over the last days of the export.
"""

from __future__ import annotations

import datetime
from collections import defaultdict

from connectors.base import DailySeries

ADDITIVE = {
    "steps", "distance", "active_energy", "basal_energy", "flights_climbed", "distance_cycling",
    "distance_swimming", "swimming_stroke_count", "apple_exercise_time", "apple_stand_time", "sleep",
    "mindfulness", "nutrition", "move", "move_time", "exercise_time", "stand_hours", "dietary_energy_consumed",
    "dietary_water", "time_in_daylight",
}  # fmt: skip
CHARTED = ("steps", "sleep", "heart_rate")


def _samples(integration_items, metric: str):
    if hasattr(integration_items, "filter"):
        return (
            integration_items.filter(kind="health_sample", data__metric=metric, deleted_at__isnull=True)
            .only("data")
            .iterator(chunk_size=5000)
        )
    return integration_items


def daily_series(integration_items, metric: str) -> list[dict]:
    """[{"date": "YYYY-MM-DD", "value": float}] in date order, from SyncedItems (a queryset is
    filtered in the database) or plain record data dicts."""
    integration_items = _samples(integration_items, metric)
    sums: dict[tuple[str, str], float] = defaultdict(float)
    values: dict[str, list[float]] = defaultdict(list)
    for item in integration_items:
        data = getattr(item, "data", item)
        if data.get("metric") != metric or not isinstance(data.get("value"), (int, float)):
            continue
        if metric == "sleep" and not str(data.get("category") or "").startswith("asleep"):
            continue
        day = str(data.get("end") if metric == "sleep" else data.get("start"))[:10]
        if metric in ADDITIVE:
            sums[(day, data.get("source") or "")] += data["value"]
        else:
            values[day].append(data["value"])
    if metric in ADDITIVE:
        best: dict[str, float] = {}
        for (day, _source), total in sums.items():
            best[day] = max(best.get(day, 0.0), total)
        return [{"date": day, "value": round(best[day], 3)} for day in sorted(best)]
    return [{"date": day, "value": round(sum(v) / len(v), 3)} for day, v in sorted(values.items())]


def daily_range(integration_items, metric: str) -> list[dict]:
    """[{"date", "min", "value" (the average), "max"}] in date order: a day's spread of a measure
    that does not add up (heart rate). Every source counts: two devices measure the same heart."""
    values: dict[str, list[float]] = defaultdict(list)
    for item in _samples(integration_items, metric):
        data = getattr(item, "data", item)
        if data.get("metric") == metric and isinstance(data.get("value"), (int, float)):
            values[str(data.get("start"))[:10]].append(data["value"])
    return [
        {"date": day, "min": min(v), "value": round(sum(v) / len(v), 3), "max": max(v)}
        for day, v in sorted(values.items())
    ]


def daily_charts(integration_items, days: int = 30) -> list[DailySeries]:
    """Steps (per day), sleep (hours per night) and heart rate (lowest, average, highest per day)
    over the `days` days that end on the export's last day with any of them: an export is a
    snapshot, so a year-old one still shows its last month rather than an empty chart."""
    latest = (
        integration_items.filter(kind="health_sample", deleted_at__isnull=True, data__metric__in=CHARTED)
        .order_by("-occurred_at")
        .values_list("occurred_at", flat=True)
        .first()
    )
    if latest is None:
        return []
    # Days are the samples' local days, the window is chosen in UTC: two days of margin, then the
    # days are cut by their own dates.
    recent = integration_items.filter(occurred_at__gte=latest - datetime.timedelta(days=days + 2))
    steps = daily_series(recent, "steps")
    sleep = daily_series(recent, "sleep")
    heart = daily_range(recent, "heart_rate")
    dated = [row["date"] for row in steps + sleep + heart]
    last = datetime.date.fromisoformat(max(dated))
    first = last - datetime.timedelta(days=days - 1)

    def window(rows, convert=lambda row: row["value"]):
        kept = []
        for row in rows:
            day = datetime.date.fromisoformat(row["date"])
            if first <= day <= last:
                kept.append((day, convert(row)))
        return kept

    charts = [
        DailySeries("Steps", "steps", first, last, window(steps)),
        DailySeries("Sleep", "hours", first, last, window(sleep, lambda row: round(row["value"] / 60, 2))),
        DailySeries(
            "Heart rate",
            "bpm",
            first,
            last,
            window(heart, lambda row: (row["min"], row["value"], row["max"])),
        ),
    ]
    return [chart for chart in charts if chart.days]
