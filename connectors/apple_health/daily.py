"""Daily values of one Health metric from the imported samples, for charts on the integration page.

Counts that add up over a day (steps, distance, energy, sleep minutes...) are summed per source
and the largest source total is the day's value: an iPhone and a Watch both count the same steps,
and Health itself keeps one of them rather than the sum. Other metrics (heart rate, weight) are
averaged over the day. A sample belongs to the local day of its start (the export keeps each
sample's own offset); sleep to the day it ends, the morning after the night. Only asleep stages
count as sleep (not "in bed" or "awake").
"""

from __future__ import annotations

from collections import defaultdict

ADDITIVE = {
    "steps", "distance", "active_energy", "basal_energy", "flights_climbed", "distance_cycling",
    "distance_swimming", "swimming_stroke_count", "apple_exercise_time", "apple_stand_time", "sleep",
    "mindfulness", "nutrition", "move", "move_time", "exercise_time", "stand_hours", "dietary_energy_consumed",
    "dietary_water", "time_in_daylight",
}  # fmt: skip


def daily_series(integration_items, metric: str) -> list[dict]:
    """[{"date": "YYYY-MM-DD", "value": float}] in date order, from SyncedItems (a queryset is
    filtered in the database) or plain record data dicts."""
    if hasattr(integration_items, "filter"):
        integration_items = (
            integration_items.filter(kind="health_sample", data__metric=metric, deleted_at__isnull=True)
            .only("data")
            .iterator(chunk_size=5000)
        )
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
