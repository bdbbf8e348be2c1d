"""Per-integration request metrics, buffered in memory and flushed to RequestStat rows."""

from __future__ import annotations

import threading
import time

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

FLUSH_EVERY = 2.0  # seconds


class MetricsRecorder:
    def __init__(self, integration_id: int | None):
        self.integration_id = integration_id
        self._lock = threading.Lock()
        self._reset()
        self._last_flush = time.monotonic()

    def _reset(self):
        self.requests = self.errors = self.rate_limited = 0
        self.total_ms = 0
        self.last_success_at = None

    def record(self, *, duration_ms: float, ok: bool, rate_limited: bool = False):
        if self.integration_id is None:
            return
        with self._lock:
            self.requests += 1
            self.total_ms += int(duration_ms)
            self.errors += 0 if ok else 1
            self.rate_limited += 1 if rate_limited else 0
            if ok:
                self.last_success_at = timezone.now()
        if time.monotonic() - self._last_flush > FLUSH_EVERY:
            self.flush()

    def flush(self):
        if self.integration_id is None:
            return
        with self._lock:
            if not self.requests:
                return
            values = dict(
                requests=self.requests, errors=self.errors, rate_limited=self.rate_limited, total_ms=self.total_ms
            )
            last_success = self.last_success_at
            self._reset()
            self._last_flush = time.monotonic()
        _add(self.integration_id, values, last_success)


def _add(integration_id: int, values: dict, last_success):
    from integrations.models import Integration, RequestStat

    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    updates = {name: F(name) + amount for name, amount in values.items()}
    if last_success:
        updates["last_success_at"] = last_success
    for _ in range(2):
        if RequestStat.objects.filter(integration_id=integration_id, hour=hour).update(**updates):
            return
        if not Integration.objects.filter(pk=integration_id).exists():
            return
        try:
            with transaction.atomic():
                RequestStat.objects.create(
                    integration_id=integration_id, hour=hour, last_success_at=last_success, **values
                )
            return
        except IntegrityError:
            continue  # another process created the row first: add to it
