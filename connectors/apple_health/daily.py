"""Daily values of one Health metric from the imported day series, for charts on the integration page.

Each health_series record is one record type from one source on one local day (sleep: the day a
night ends), with its aggregates: the charts read those (count, sum, lowest, average, highest,
minutes asleep), never the samples, so a month of charts reads a few dozen rows.

Counts that add up over a day (steps, distance, energy, sleep minutes...) are summed per source
and the largest source total is the day's value: an iPhone and a Watch both count the same steps,
and Health itself keeps one of them rather than the sum. Other metrics (heart rate, weight) are
averaged over the day, every sample of every source weighing the same. Only asleep stages count
as sleep (not "in bed" or "awake").

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
FIELDS = ("date", "source", "count", "value", "min", "max")


def _days(integration_items, metric: str):
    """The aggregates of the metric's day series: dicts with FIELDS, from SyncedItems (a queryset
    is filtered in the database and only those fields are read, not the samples) or plain record
    data dicts."""
    if hasattr(integration_items, "filter"):
        rows = (
            integration_items.filter(kind="health_series", data__metric=metric, deleted_at__isnull=True)
            .values_list(*(f"data__{name}" for name in FIELDS))
            .iterator(chunk_size=5000)
        )
        for row in rows:
            yield dict(zip(FIELDS, row, strict=True))
        return
    for item in integration_items:
        data = getattr(item, "data", item)
        if data.get("metric") == metric and "samples" in data:
            yield data


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def daily_series(integration_items, metric: str) -> list[dict]:
    """[{"date": "YYYY-MM-DD", "value": float}] in date order."""
    if metric in ADDITIVE:
        sums: dict[tuple[str, str], float] = defaultdict(float)
        for day in _days(integration_items, metric):
            if _number(day.get("value")):
                sums[(str(day["date"]), day.get("source") or "")] += day["value"]
        best: dict[str, float] = {}
        for (date, _source), total in sums.items():
            best[date] = max(best.get(date, 0.0), total)
        return [{"date": date, "value": round(best[date], 3)} for date in sorted(best)]
    return [{"date": row["date"], "value": row["value"]} for row in daily_range(integration_items, metric)]


def daily_range(integration_items, metric: str) -> list[dict]:
    """[{"date", "min", "value" (the average), "max"}] in date order: a day's spread of a measure
    that does not add up (heart rate). Every source counts: two devices measure the same heart."""
    totals: dict[str, list] = {}
    for day in _days(integration_items, metric):
        count, average = day.get("count"), day.get("value")
        if not (_number(count) and count > 0 and _number(average)):
            continue
        low = day["min"] if _number(day.get("min")) else average
        high = day["max"] if _number(day.get("max")) else average
        entry = totals.setdefault(str(day["date"]), [0.0, 0, low, high])
        entry[0] += average * count
        entry[1] += count
        entry[2], entry[3] = min(entry[2], low), max(entry[3], high)
    return [
        {"date": date, "min": low, "value": round(total / count, 3), "max": high}
        for date, (total, count, low, high) in sorted(totals.items())
    ]


def daily_charts(integration_items, days: int = 30) -> list[DailySeries]:
    """Steps (per day), sleep (hours per night) and heart rate (lowest, average, highest per day)
    over the `days` days that end on the export's last day with any of them: an export is a
    snapshot, so a year-old one still shows its last month rather than an empty chart."""
    latest = (
        integration_items.filter(kind="health_series", deleted_at__isnull=True, data__metric__in=CHARTED)
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
