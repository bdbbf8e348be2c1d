"""Per-integration health over the last hours, from the hourly RequestStat rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Max
from django.utils import timezone

from integrations.charts import Bar
from integrations.models import RequestStat

HOURS = 24


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


@dataclass
class Health:
    requests: int = 0
    errors: int = 0
    rate_limited: int = 0
    total_ms: int = 0
    last_success_at: object = None
    bars: list[Bar] = field(default_factory=list)

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    @property
    def average_ms(self) -> float | None:
        return self.total_ms / self.requests if self.requests else None

    @property
    def chart_description(self) -> str:
        busiest = max(self.bars, key=lambda b: b.value, default=None)
        if not busiest or not busiest.value:
            return f"No requests in the last {len(self.bars)} hours."
        return (
            f"{_n(self.requests, 'request')} and {_n(self.errors, 'error')} in the last {len(self.bars)} hours; "
            f"the busiest hour was {busiest.label} with {_n(int(busiest.value), 'request')}."
        )


def health_for(integration, *, hours: int = HOURS, now=None) -> Health:
    now = now or timezone.now()
    current_hour = now.replace(minute=0, second=0, microsecond=0)
    since = current_hour - timedelta(hours=hours - 1)
    rows = {
        row.hour: row
        for row in RequestStat.objects.filter(integration=integration, hour__gte=since).only(
            "hour", "requests", "errors", "rate_limited", "total_ms", "last_success_at"
        )
    }
    health = Health()
    for offset in range(hours):
        hour = since + timedelta(hours=offset)
        row = rows.get(hour)
        requests, errors = (row.requests, row.errors) if row else (0, 0)
        local = timezone.localtime(hour)
        health.bars.append(
            Bar(
                label=local.strftime("%H:00"),
                value=requests,
                highlight=errors,
                tooltip=f"{local:%d %b %H:00}: {_n(requests, 'request')}, {_n(errors, 'error')}",
            )
        )
        if row:
            health.requests += row.requests
            health.errors += row.errors
            health.rate_limited += row.rate_limited
            health.total_ms += row.total_ms
    # The last success may be older than the window: ask for it separately.
    health.last_success_at = RequestStat.objects.filter(integration=integration).aggregate(last=Max("last_success_at"))[
        "last"
    ]
    return health
